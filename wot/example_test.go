package wot_test

import (
	"context"
	"fmt"
	"log"

	"mellium.im/xmpp/jid"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/pgp"
	"codeberg.org/ox/ox/wot"
)

// The web of trust over XMPP: certify a verified contact key and send the
// certification back; accept one that arrived and publish it.
func ExampleWoT_Certify() {
	ctx := context.Background()
	var c *ox.Client // as in the root package's example, before it is served
	w := wot.New(c)
	fpr, _ := pgp.ParseFingerprint("3EC1012940BF2505DE661858CE26F77F77D5678B")
	rep, err := w.Certify(ctx, jid.MustParse("bob@example.org"), fpr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("certified", rep.UserID, "of", rep.Target)

	offers, _ := w.Certifications(ctx)
	for _, o := range offers {
		if _, err := w.AcceptCertification(ctx, o.ID); err != nil {
			log.Fatal(err)
		}
	}
	w.PublishCertifications()
	keys, _ := c.Backend.SecretKeys(ctx)
	if _, err := c.Publish(ctx, keys[0].Fingerprint); err != nil {
		log.Fatal(err)
	}
}
