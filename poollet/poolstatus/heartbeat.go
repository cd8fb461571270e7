package poolstatus

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
)

// ConditionReady is the pool condition a heartbeat writes.
const ConditionReady = "Ready"

// Reasons of ConditionReady.
const (
	// ReasonRuntimeReady: the runtime answers Version.
	ReasonRuntimeReady = "RuntimeReady"
	// ReasonRuntimeUnavailable: the runtime does not answer.
	ReasonRuntimeUnavailable = "RuntimeUnavailable"
)

// Version is what a heartbeat reads of a runtime's VersionResponse.
type Version interface {
	GetRuntimeName() string
	GetRuntimeVersion() string
}

// Heartbeat calls beat at once and then every interval until ctx ends, logging its errors.
func Heartbeat(ctx context.Context, interval time.Duration, pool string, beat func(context.Context) error) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if err := beat(ctx); err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "heartbeat failed", "pool", pool)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Beat is the status patch of one heartbeat: lastHeartbeatTime now and ConditionReady set in
// conditions (the pool's current ones): True when the runtime (kind "machine" or "volume")
// answered Version, False with its error otherwise.
func Beat(conditions []metav1.Condition, generation int64, kind string, version Version, err error) map[string]any {
	ready := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue,
		Reason: ReasonRuntimeReady, Message: "the " + kind + " runtime answers", ObservedGeneration: generation}
	if err != nil {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonRuntimeUnavailable, "the "+kind+" runtime does not answer: "+err.Error()
	} else {
		ready.Message = "the " + kind + " runtime " + version.GetRuntimeName() + " " + version.GetRuntimeVersion() + " answers"
	}
	conditions = append([]metav1.Condition(nil), conditions...)
	meta.SetStatusCondition(&conditions, ready)
	return map[string]any{"lastHeartbeatTime": metav1.Now(), "conditions": conditions}
}
