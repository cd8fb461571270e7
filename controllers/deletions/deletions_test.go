package deletions

import (
	"testing"
	"time"
)

func TestMissingKeptForTheGraceThenDropped(t *testing.T) {
	tracker := &Tracker{Grace: 50 * time.Millisecond}
	if keep, wait := tracker.Missing("a"); !keep || wait != 50*time.Millisecond {
		t.Fatalf("first miss: keep %v wait %v, want kept for the grace", keep, wait)
	}
	if keep, _ := tracker.Missing("a"); !keep {
		t.Fatal("second miss within the grace: dropped, want kept")
	}
	time.Sleep(60 * time.Millisecond)
	if keep, _ := tracker.Missing("a"); keep {
		t.Fatal("miss after the grace: kept, want dropped")
	}
}

func TestDeletedIsDroppedAtOnce(t *testing.T) {
	tracker := &Tracker{Grace: time.Hour}
	tracker.Deleted("b")
	if keep, _ := tracker.Missing("b"); keep {
		t.Fatal("an object whose deletion was seen: kept, want dropped")
	}
}

func TestFoundRestartsTheGrace(t *testing.T) {
	tracker := &Tracker{Grace: 50 * time.Millisecond}
	tracker.Missing("c")
	time.Sleep(60 * time.Millisecond)
	tracker.Found("c")
	if keep, _ := tracker.Missing("c"); !keep {
		t.Fatal("missing again after being found: dropped, want a new grace")
	}
}
