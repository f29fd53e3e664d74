package element_test

import (
	"fmt"
	"time"

	"codeberg.org/ox/ox/element"
	"mellium.im/xmpp/jid"
)

func ExampleNewContent() {
	to := []jid.JID{jid.MustParse("juliet@example.org/balcony")}
	now := time.Date(2014, 7, 10, 17, 6, 0, 250_000_000, time.FixedZone("CEST", 2*3600))
	c, err := element.NewContent(element.KindSigncrypt, to, now, element.BodyPayload("This is a secret message."))
	if err != nil {
		fmt.Println(err)
		return
	}
	// NewContent draws a random padding; fix it for a stable output.
	c.Rpad = "f0rm1l4n4"
	out, err := c.Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))
	// Output:
	// <signcrypt xmlns="urn:xmpp:openpgp:0"><to jid="juliet@example.org"/><time stamp="2014-07-10T15:06:00Z"/><rpad>f0rm1l4n4</rpad><payload><body xmlns="jabber:client">This is a secret message.</body></payload></signcrypt>
}

func ExampleParseContent() {
	// What profanity sends: a "+0000" offset, which XEP-0082 does not
	// allow, and an odd padding.
	in := `<signcrypt xmlns="urn:xmpp:openpgp:0"><to jid="alice@localhost"/><time stamp="2026-11-26T11:29:46+0000"/><rpad>WflB\gQBb[lt^_` + "`" + `</rpad><payload><body xmlns="jabber:client">hello &lt;3</body><active xmlns="http://jabber.org/protocol/chatstates"/></payload></signcrypt>`
	c, err := element.ParseContent([]byte(in))
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := c.Body()
	fmt.Println(c.Kind, c.To, c.Time, body)
	fmt.Println(string(c.Payload))

	// The errors say what is wrong and can be told apart.
	_, err = element.ParseContent([]byte(`<signcrypt xmlns="urn:xmpp:openpgp:0"><payload/></signcrypt>`))
	fmt.Println(err)
	// Output:
	// signcrypt [alice@localhost] 2026-11-26 11:29:46 +0000 UTC hello <3
	// <body xmlns="jabber:client">hello &lt;3</body><active xmlns="http://jabber.org/protocol/chatstates"/>
	// element: <signcrypt/> time: missing required element: no <time/> element
}

func ExampleParseMessage() {
	in := `<message to='bob@localhost' id='x1'><store xmlns='urn:xmpp:hints'/><encryption namespace='urn:xmpp:openpgp:0' xmlns='urn:xmpp:eme:0'/><openpgp xmlns='urn:xmpp:openpgp:0'>wV4DHUq8tf8UpTIS</openpgp><body>This message is encrypted (XEP-0373: OpenPGP for XMPP).</body></message>`
	m, err := element.ParseMessage([]byte(in))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("type=%q eme=%s store=%v openpgp=% x\n", m.Type, m.EME, m.Store, m.OpenPGP[:4])
	// Output:
	// type="" eme=urn:xmpp:openpgp:0 store=true openpgp=c1 5e 03 1d
}

func ExamplePublicKeysList_Marshal() {
	l := element.PublicKeysList{Keys: []element.PubKeyMetadata{{
		Fingerprint: "1357b01865b2503c18453d208cac2a9678548e35",
		Date:        time.Date(2018, 3, 1, 15, 26, 12, 0, time.UTC),
	}}}
	fmt.Println(string(l.Marshal()))
	fmt.Println(element.DataNode(l.Keys[0].Fingerprint))
	// Output:
	// <public-keys-list xmlns="urn:xmpp:openpgp:0"><pubkey-metadata v4-fingerprint="1357B01865B2503C18453D208CAC2A9678548E35" date="2018-03-01T15:26:12Z"/></public-keys-list>
	// urn:xmpp:openpgp:0:public-keys:1357B01865B2503C18453D208CAC2A9678548E35
}
