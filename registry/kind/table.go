package kind

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apiserver/pkg/registry/rest"
)

// tableConvertor renders objects as the rows of `kubectl get`: Name, the kind's columns, Age.
type tableConvertor[T Object] struct {
	kind *Kind[T]
}

var _ rest.TableConvertor = &tableConvertor[Object]{}

func (c *tableConvertor[T]) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{}
	noHeaders := false
	if opts, ok := tableOptions.(*metav1.TableOptions); ok && opts != nil {
		noHeaders = opts.NoHeaders
	}
	if !noHeaders {
		table.ColumnDefinitions = append(table.ColumnDefinitions, metav1.TableColumnDefinition{
			Name: "Name", Type: "string", Format: "name", Description: "Name of the object.",
		})
		table.ColumnDefinitions = append(table.ColumnDefinitions, c.kind.Columns...)
		table.ColumnDefinitions = append(table.ColumnDefinitions, metav1.TableColumnDefinition{
			Name: "Age", Type: "date", Description: "Time since the object was created.",
		})
	}
	rowFor := func(obj runtime.Object) error {
		o, ok := obj.(T)
		if !ok {
			return errors.NewInternalError(fmt.Errorf("unexpected object %T in table conversion", obj))
		}
		cells := []any{o.GetName()}
		if c.kind.Row != nil {
			cells = append(cells, c.kind.Row(o)...)
		}
		cells = append(cells, age(o.GetCreationTimestamp()))
		table.Rows = append(table.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: obj}})
		return nil
	}
	if meta.IsListType(object) {
		if err := meta.EachListItem(object, rowFor); err != nil {
			return nil, err
		}
	} else if err := rowFor(object); err != nil {
		return nil, err
	}
	if list, err := meta.ListAccessor(object); err == nil {
		table.ResourceVersion = list.GetResourceVersion()
		table.Continue = list.GetContinue()
		table.RemainingItemCount = list.GetRemainingItemCount()
	} else if obj, err := meta.CommonAccessor(object); err == nil {
		table.ResourceVersion = obj.GetResourceVersion()
	}
	return table, nil
}

func age(created metav1.Time) string {
	if created.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(metav1.Now().Sub(created.Time))
}
