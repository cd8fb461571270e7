// Package columns formats values for the table columns of `kubectl get`.
package columns

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// None is shown for an empty cell, as kubectl does.
const None = "<none>"

// Text returns s, or None when empty.
func Text(s string) string {
	if s == "" {
		return None
	}
	return s
}

// RefName returns the name of an optional reference, or None.
func RefName(ref *corev1.LocalObjectReference) string {
	if ref == nil {
		return None
	}
	return Text(ref.Name)
}

// List joins values with commas, or None when empty.
func List[T ~string](values []T) string {
	parts := make([]string, 0, len(values))
	for _, v := range values {
		parts = append(parts, string(v))
	}
	return Text(strings.Join(parts, ","))
}

// Quantity formats one entry of a resource list, or None when missing.
func Quantity(list corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := list[name]
	if !ok {
		return None
	}
	return q.String()
}

// ConditionStatus returns the status of a condition type: True, False, Unknown, or Unknown when absent.
func ConditionStatus(conditions []metav1.Condition, conditionType string) string {
	if c := meta.FindStatusCondition(conditions, conditionType); c != nil {
		return string(c.Status)
	}
	return string(metav1.ConditionUnknown)
}

// Column returns a column definition; wide columns show with -o wide only.
func Column(name, columnType, description string, wide bool) metav1.TableColumnDefinition {
	priority := int32(0)
	if wide {
		priority = 1
	}
	return metav1.TableColumnDefinition{Name: name, Type: columnType, Description: description, Priority: priority}
}
