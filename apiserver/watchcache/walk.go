package watchcache

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Intern replaces the repeated values of obj, a pointer to a decoded API object that nothing
// else holds yet, with their canonical copies: strings (of any string type), maps from
// strings to strings or to quantities (labels, selectors, resource lists) and the raw
// managed-fields sets. It leaves out the values that identify one object (name, UID,
// resource version) and never changes what obj reads as.
func (t *Table) Intern(obj any) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.walk(v.Elem())
}

var (
	quantityType = reflect.TypeFor[resource.Quantity]()
	fieldsV1Type = reflect.TypeFor[metav1.FieldsV1]()
)

// unique are fields whose values differ in every object; interning them would only fill
// the table.
var unique = map[reflect.Type][]string{
	reflect.TypeFor[metav1.ObjectMeta]():     {"Name", "GenerateName", "UID", "ResourceVersion", "SelfLink"},
	reflect.TypeFor[metav1.OwnerReference](): {"UID"},
}

// walk interns the values inside v, which is settable; the caller holds mu.
func (t *Table) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); s != "" {
			v.SetString(t.str(s))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			t.walk(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == fieldsV1Type {
			raw := v.FieldByName("Raw")
			raw.SetBytes(t.bytesOf(raw.Bytes()))
			return
		}
		for _, i := range fieldsOf(v.Type()) {
			t.walk(v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // bytes other than managed fields may be buffers someone writes to
		}
		if worthWalking(v.Type().Elem()) {
			for i := range v.Len() {
				t.walk(v.Index(i))
			}
		}
	case reflect.Map:
		if v.Len() == 0 || v.Type().Key().Kind() != reflect.String {
			return
		}
		switch m := v.Interface().(type) {
		case map[string]string: // labels, annotations, selectors: the common case, without reflection
			v.Set(reflect.ValueOf(t.canonicalStringMap(m)))
		default:
			if e := v.Type().Elem(); e.Kind() == reflect.String || e == quantityType {
				v.Set(t.canonicalMap(v))
			}
		}
	}
}

// canonicalMap returns the canonical map equal to m, a map from strings to strings or
// quantities, whose keys and values are interned; the caller holds mu.
func (t *Table) canonicalMap(m reflect.Value) reflect.Value {
	keys := m.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	var b []byte
	for _, k := range keys {
		b = appendField(b, k.String())
		b = appendField(b, mapValueString(m.MapIndex(k)))
	}
	key := mapKey{m.Type(), string(b)}
	if c, ok := t.maps[key]; ok {
		return c
	}
	c := reflect.MakeMapWithSize(m.Type(), len(keys))
	for _, k := range keys {
		ck := reflect.New(k.Type()).Elem()
		ck.SetString(t.str(k.String()))
		cv := reflect.New(m.Type().Elem()).Elem()
		cv.Set(m.MapIndex(k))
		if cv.Kind() == reflect.String {
			cv.SetString(t.str(cv.String()))
		}
		c.SetMapIndex(ck, cv)
	}
	t.maps[key] = c
	t.added(len(key.content))
	return c
}

// canonicalStringMap is canonicalMap for map[string]string.
func (t *Table) canonicalStringMap(m map[string]string) map[string]string {
	var small [8]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		b = appendField(b, k)
		b = appendField(b, m[k])
	}
	key := mapKey{stringMapType, string(b)}
	if c, ok := t.maps[key]; ok {
		return c.Interface().(map[string]string)
	}
	c := make(map[string]string, len(m))
	for _, k := range keys {
		c[t.str(k)] = t.str(m[k])
	}
	t.maps[key] = reflect.ValueOf(c)
	t.added(len(key.content))
	return c
}

var stringMapType = reflect.TypeFor[map[string]string]()

// appendField appends s prefixed with its length, so that no two maps read the same.
func appendField(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

// mapValueString is a map value as it serializes: the string, or the quantity's canonical
// form (two quantities of the same canonical form encode the same).
func mapValueString(v reflect.Value) string {
	if v.Kind() == reflect.String {
		return v.String()
	}
	q := v.Interface().(resource.Quantity)
	return string(q.Format) + ":" + q.String()
}

// fieldPlans caches, per struct type, the indexes of the fields worth walking.
var fieldPlans sync.Map // reflect.Type -> []int

// fieldsOf returns the indexes of the exported fields of struct type st that may hold
// something to intern, leaving out the unique ones and quantities (whose state is private).
func fieldsOf(st reflect.Type) []int {
	if p, ok := fieldPlans.Load(st); ok {
		return p.([]int)
	}
	var plan []int
	for i := range st.NumField() {
		f := st.Field(i)
		if !f.IsExported() || slices.Contains(unique[st], f.Name) || !worthWalking(f.Type) {
			continue
		}
		plan = append(plan, i)
	}
	fieldPlans.Store(st, plan)
	return plan
}

// worthWalkingTypes caches worthWalking.
var worthWalkingTypes sync.Map // reflect.Type -> bool

// worthWalking tells whether values of type t may hold something to intern.
func worthWalking(t reflect.Type) bool {
	if w, ok := worthWalkingTypes.Load(t); ok {
		return w.(bool)
	}
	w := worthWalkingSeen(t, map[reflect.Type]bool{})
	worthWalkingTypes.Store(t, w)
	return w
}

func worthWalkingSeen(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: its other paths decide
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.String:
		return true
	case reflect.Pointer:
		return worthWalkingSeen(t.Elem(), seen)
	case reflect.Slice:
		return t.Elem().Kind() != reflect.Uint8 && worthWalkingSeen(t.Elem(), seen)
	case reflect.Map:
		return t.Key().Kind() == reflect.String && (t.Elem().Kind() == reflect.String || t.Elem() == quantityType)
	case reflect.Struct:
		if t == fieldsV1Type {
			return true
		}
		if t == quantityType {
			return false
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if f.IsExported() && worthWalkingSeen(f.Type, seen) {
				return true
			}
		}
	}
	return false
}
