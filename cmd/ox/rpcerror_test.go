package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/muc"
	"codeberg.org/ox/ox/rpc"
)

// A send whose outcome stays unknown has its own code, and names the
// message, so that a script can tell it from a failure (after which
// sending again is safe) and ask whether it arrived.
func TestUnknownOutcomeCode(t *testing.T) {
	err := &ox.UnknownOutcomeError{To: jid.MustParse("bob@example.org"), ID: "m-1", Err: ox.ErrConnectionLost}
	e := rpcError(err)
	data, _ := e.Data.(map[string]string)
	if e.Code != rpc.CodeUnknownOutcome || data["id"] != "m-1" || !strings.Contains(e.Message, "may have been delivered") || !strings.Contains(data["hint"], "twice") {
		t.Errorf("rpcError: %d %q %v", e.Code, e.Message, e.Data)
	}
	// A group message the room did not reflect before the cut, likewise.
	ru := &muc.UnknownOutcomeError{Room: jid.MustParse("team@rooms.example.org"), ID: "g-1", Err: ox.ErrConnectionLost}
	e = rpcError(fmt.Errorf("wrapped: %w", ru))
	data, _ = e.Data.(map[string]string)
	if e.Code != rpc.CodeUnknownOutcome || data["id"] != "g-1" || !strings.Contains(e.Message, "may have reached the room") || !strings.Contains(data["hint"], "twice") {
		t.Errorf("rpcError of a group message: %d %q %v", e.Code, e.Message, e.Data)
	}
	if e := rpcError(ox.ErrConnectionLost); e.Code != rpc.CodeFailed {
		t.Errorf("a lost connection: code %d, want %d", e.Code, rpc.CodeFailed)
	}
	if e := rpcError(errors.Join(errOffline)); e.Code != rpc.CodeOffline {
		t.Errorf("offline: code %d", e.Code)
	}
}
