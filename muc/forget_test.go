package muc

import "testing"

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
