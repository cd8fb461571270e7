package placement

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestUntoleratedTaint(t *testing.T) {
	gpu := corev1.Taint{Key: "gpu", Value: "a100", Effect: corev1.TaintEffectNoSchedule}
	soft := corev1.Taint{Key: "busy", Effect: corev1.TaintEffectPreferNoSchedule}
	evict := corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute}
	if got := UntoleratedTaint([]corev1.Taint{soft}, nil); got != nil {
		t.Errorf("PreferNoSchedule excluded the pool: %v", got)
	}
	if got := UntoleratedTaint([]corev1.Taint{gpu}, nil); got == nil || got.Key != "gpu" {
		t.Errorf("untolerated NoSchedule taint not reported: %v", got)
	}
	tolerateGPU := []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpEqual, Value: "a100", Effect: corev1.TaintEffectNoSchedule}}
	if got := UntoleratedTaint([]corev1.Taint{gpu}, tolerateGPU); got != nil {
		t.Errorf("tolerated taint reported: %v", got)
	}
	if got := UntoleratedTaint([]corev1.Taint{gpu, evict}, tolerateGPU); got == nil || got.Key != "maintenance" {
		t.Errorf("second taint not reported: %v", got)
	}
	if got := UntoleratedTaint([]corev1.Taint{gpu, evict}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}); got != nil {
		t.Errorf("tolerate-everything did not: %v", got)
	}
}

func TestSelectorMatches(t *testing.T) {
	labels := map[string]string{"zone": "a", "disk": "ssd"}
	if !SelectorMatches(nil, labels) || !SelectorMatches(map[string]string{"zone": "a"}, labels) {
		t.Error("matching selector refused")
	}
	if SelectorMatches(map[string]string{"zone": "b"}, labels) || SelectorMatches(map[string]string{"gpu": "yes"}, labels) {
		t.Error("mismatching selector accepted")
	}
}
