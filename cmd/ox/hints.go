package main

import (
	"errors"
	"strings"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/muc"
	"codeberg.org/ox/ox/pgp"
)

// libraryHint is what to do about an error of the library that names no
// command itself (the library's errors are data; the commands to run are
// the CLI's to say). "" if there is nothing to add.
func libraryHint(err error) string {
	var nu *ox.NoUserIDError
	var ns *ox.NoSigningKeyError
	var nk *ox.NoUsableKeyError
	var tr *ox.TrustError
	var uo *ox.UnknownOutcomeError
	var ru *muc.UnknownOutcomeError
	switch {
	case errors.As(err, &uo):
		return "ask " + uo.To.String() + " whether it arrived before you send it again: sending again may deliver it twice"
	case errors.As(err, &ru):
		return "look in the room whether it arrived (ox room listen " + ru.Room.String() + ") before you send it again: sending again may show it twice"
	case errors.Is(err, ox.ErrConnectionLost):
		return "check the network and the server, then run the command again"
	case errors.Is(err, ox.ErrTimeout):
		return "the server is slow or unreachable; try again, or give a longer --timeout"
	case errors.As(err, &nu):
		f := nu.Keys[0].String()
		return "add it with 'ox key add-uid " + f + "' (for GnuPG: gpg --quick-add-uid " + f + " " + pgp.UserID(nu.Account) + "), or make a key with 'ox key generate'"
	case errors.As(err, &ns):
		return "make one with 'ox key generate' or import yours with 'ox key import FILE'"
	case errors.As(err, &nk):
		return usableKeyHint(nk)
	case errors.As(err, &tr):
		return "you rejected that key; if that was a mistake: ox trust undecide " + tr.Sender.String() + " " + tr.Signer.String()
	}
	return ""
}

// usableKeyHint says how to get a key a message can be encrypted to.
func usableKeyHint(nk *ox.NoUsableKeyError) string {
	to := nk.JID.String()
	var h []string
	for _, f := range nk.NotValidInGnuPG {
		h = append(h, "if "+f.String()+" is "+to+"'s, certify it with 'gpg --quick-lsign-key "+f.String()+"', or verify it in ox only with 'ox trust verify "+to+" "+f.String()+"'")
	}
	for _, f := range nk.NeverValidInGnuPG {
		h = append(h, "to use "+f.String()+" anyway: ox trust verify "+to+" "+f.String())
	}
	gnupg := map[pgp.Fingerprint]bool{}
	for _, f := range nk.NotValidInGnuPG {
		gnupg[f] = true
	}
	for _, f := range nk.Undecided {
		if !gnupg[f] {
			h = append(h, "compare fingerprints with "+to+" ('ox trust show "+to+"') and verify it: ox trust verify "+to+" "+f.String())
		}
	}
	if len(h) > 0 {
		return strings.Join(h, "; ")
	}
	if nk.None {
		return "import the contact's key with 'ox cert import FILE'"
	}
	return "ask " + to + " for a current key and import it with 'ox cert import FILE', or fetch it with 'ox cert fetch " + to + "'"
}
