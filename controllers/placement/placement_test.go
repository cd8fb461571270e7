package placement

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFresh(t *testing.T) {
	now := time.Unix(1000, 0)
	ready := func(status metav1.ConditionStatus, at time.Time) []metav1.Condition {
		return []metav1.Condition{{Type: "Ready", Status: status, LastTransitionTime: metav1.NewTime(at)}}
	}
	beat := func(at time.Time) *metav1.Time { t := metav1.NewTime(at); return &t }
	tests := []struct {
		name       string
		conditions []metav1.Condition
		heartbeat  *metav1.Time
		want       bool
	}{
		{"ready, recent heartbeat", ready(metav1.ConditionTrue, now.Add(-time.Hour)), beat(now.Add(-10 * time.Second)), true},
		{"ready, stale heartbeat", ready(metav1.ConditionTrue, now.Add(-time.Hour)), beat(now.Add(-time.Minute)), false},
		{"ready, no heartbeat, recent transition", ready(metav1.ConditionTrue, now.Add(-5*time.Second)), nil, true},
		{"ready, no heartbeat, old transition", ready(metav1.ConditionTrue, now.Add(-time.Hour)), nil, false},
		{"unknown", ready(metav1.ConditionUnknown, now), beat(now), false},
		{"no condition", nil, beat(now), false},
	}
	for _, tt := range tests {
		if got := Fresh(tt.conditions, tt.heartbeat, now, 40*time.Second); got != tt.want {
			t.Errorf("%s: Fresh = %v, want %v", tt.name, got, tt.want)
		}
	}
}

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

func TestOrder(t *testing.T) {
	candidates := func() []Candidate {
		return []Candidate{{"a", 0.1}, {"b", 0.9}, {"c", 0.5}, {"d", 0.7}}
	}
	if got := Order(candidates(), Spread, 1); got[0].Name != "b" || got[3].Name != "a" {
		t.Errorf("spread order %v", got)
	}
	if got := Order(candidates(), BinPack, 1); got[0].Name != "a" || got[3].Name != "b" {
		t.Errorf("binpack order %v", got)
	}
	// With a shuffled top, the best ones stay in front.
	got := Order(candidates(), Spread, 2)
	if top := map[string]bool{got[0].Name: true, got[1].Name: true}; !top["b"] || !top["d"] {
		t.Errorf("spread top 2 %v", got)
	}
}
