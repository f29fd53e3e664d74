package muc

import (
	"fmt"
	"testing"

	"codeberg.org/ox/ox"
)

// A caller that gives up settling a group message (the daemon, when no
// connection came to Confirm it) drops the room's wait for its echo: one
// entry per such message would otherwise stay for the room's life.
func TestForgetDropsTheEcho(t *testing.T) {
	r := &Room{echo: map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}}
	e := &UnknownOutcomeError{ID: "a", room: r, echo: r.echo["a"]}
	e.Forget()
	if _, ok := r.echo["a"]; ok || len(r.echo) != 1 {
		t.Errorf("echoes awaited after Forget: %v, want only b's", r.echo)
	}
	(*UnknownOutcomeError)(nil).Forget() // no panic
	(&UnknownOutcomeError{ID: "b"}).Forget()
}

// A room's refusal that joining again will not change ends what stays
// online (ox.Transient is false); one that may change is tried again.
func TestJoinRefusalTransient(t *testing.T) {
	for cond, want := range map[string]bool{
		"forbidden": false, "registration-required": false, "not-authorized": false, "not-acceptable": false,
		"conflict": true, "service-unavailable": true, "item-not-found": true, "not-allowed": true,
	} {
		err := fmt.Errorf("joining: %w", &JoinError{Condition: cond})
		if got := ox.Transient(err); got != want {
			t.Errorf("%s: Transient %v, want %v", cond, got, want)
		}
	}
	if ox.Transient(&SemiAnonymousError{Why: "no status code 100"}) {
		t.Error("a semi-anonymous room is tried again")
	}
}
