package migrator

import (
	"fmt"
	"testing"
	"time"
)

// TestSeenIDsExpireAndStayBounded: an id is refused again within the window, accepted after
// it, and beyond the bound the oldest ids are forgotten first.
func TestSeenIDsExpireAndStayBounded(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := newSeenIDs(10*time.Minute, 3)
	if !s.add("a", t0) || s.add("a", t0.Add(9*time.Minute)) {
		t.Fatal("an id seen within the window must be refused")
	}
	if !s.add("a", t0.Add(10*time.Minute)) {
		t.Fatal("an id seen longer ago than the window must be accepted")
	}
	t1 := t0.Add(time.Hour)
	for i := range 5 {
		if !s.add(fmt.Sprint("id", i), t1) {
			t.Fatalf("new id %d refused", i)
		}
	}
	if len(s.ids) != 3 || len(s.order) != 3 {
		t.Fatalf("%d ids remembered (%d in order), want the bound of 3", len(s.ids), len(s.order))
	}
	if s.add("id4", t1) || !s.add("id0", t1) {
		t.Fatal("the newest ids must be remembered and the oldest forgotten")
	}
}
