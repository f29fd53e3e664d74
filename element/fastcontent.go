package element

import (
	"bytes"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
)

// fastContent reads a content element in the form Marshal writes it, with
// a payload of one plain <body/>, without the XML decoder:
//
//	<signcrypt xmlns="urn:xmpp:openpgp:0"><to jid="…"/>…<time stamp="…"/><rpad>…</rpad><payload><body xmlns="jabber:client">…</body></payload></signcrypt>
//
// (double or single quotes; <sign/> or <crypt/>; <rpad/> alphanumeric or
// absent). Attribute values and the body text must need no decoding: no
// entity, no "<", no carriage return, valid UTF-8 of XML characters, no
// "]]>". Anything else is left to the full parser (false), which also
// gives the errors. The receive path's profile had the decoder at a tenth
// of a whole decrypt+verify (issue 5); FuzzParseContent checks that this
// and the full parser agree on everything this accepts.
func fastContent(data []byte) (*Content, bool) {
	if len(data) > MaxSize {
		return nil, false
	}
	d := bytes.Trim(data, " \t\r\n") // XML's white space only
	var c Content
	var name string
	for _, k := range []Kind{KindSigncrypt, KindSign, KindCrypt} {
		n := k.String()
		if _, rest, ok := cutTag(d, "<"+n+" xmlns=", NS, ">"); ok {
			c.Kind, name, d = k, n, rest
			break
		}
	}
	if name == "" {
		return nil, false
	}
	for {
		v, rest, ok := cutTag(d, "<to jid=", "", "/>")
		if !ok {
			break
		}
		j, err := jid.Parse(v)
		if err != nil {
			c.BadTo = append(c.BadTo, v)
		} else {
			c.To = append(c.To, j)
		}
		d = rest
	}
	stamp, rest, ok := cutTag(d, "<time stamp=", "", "/>")
	if !ok {
		return nil, false
	}
	c.TimeRaw = stamp
	t, noZone, err := ParseTimeZone(c.TimeRaw)
	if err != nil {
		return nil, false
	}
	c.Time, c.TimeNoZone = t, noZone
	d = rest
	if bytes.HasPrefix(d, []byte("<rpad>")) {
		end := bytes.Index(d, []byte("</rpad>"))
		if end < 0 {
			return nil, false
		}
		for _, b := range d[len("<rpad>"):end] {
			if !('A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' || '0' <= b && b <= '9') {
				return nil, false
			}
		}
		c.Rpad = string(d[len("<rpad>"):end])
		d = d[end+len("</rpad>"):]
	}
	if !bytes.HasPrefix(d, []byte("<payload>")) || !bytes.HasSuffix(d, []byte("</payload></"+name+">")) {
		return nil, false
	}
	payload := d[len("<payload>") : len(d)-len("</payload></"+name+">")]
	_, rest, ok = cutTag(payload, "<body xmlns=", NSClient, ">")
	if !ok || !bytes.HasSuffix(rest, []byte("</body>")) {
		return nil, false
	}
	text := rest[:len(rest)-len("</body>")]
	body, ok := bodyText(text)
	if !ok {
		return nil, false
	}
	c.Payload = append([]byte(nil), payload...)
	c.body, c.bodyOf = &body, c.Payload
	return &c, true
}

// bodyText decodes text that holds nothing but plain text and XML's five
// predefined entities (what Marshal's escaping writes).
func bodyText(text []byte) (string, bool) {
	if bytes.Contains(text, []byte("]]>")) {
		return "", false
	}
	amp := bytes.IndexByte(text, '&')
	if amp < 0 {
		return string(text), plainText(text)
	}
	out := make([]byte, 0, len(text))
	for len(text) > 0 {
		amp := bytes.IndexByte(text, '&')
		if amp < 0 {
			amp = len(text)
		}
		if !plainText(text[:amp]) {
			return "", false
		}
		out = append(out, text[:amp]...)
		text = text[amp:]
		if len(text) == 0 {
			break
		}
		var r byte
		switch {
		case bytes.HasPrefix(text, []byte("&amp;")):
			r = '&'
		case bytes.HasPrefix(text, []byte("&lt;")):
			r = '<'
		case bytes.HasPrefix(text, []byte("&gt;")):
			r = '>'
		case bytes.HasPrefix(text, []byte("&quot;")):
			r = '"'
		case bytes.HasPrefix(text, []byte("&apos;")):
			r = '\''
		default:
			return "", false
		}
		out = append(out, r)
		text = text[bytes.IndexByte(text, ';')+1:]
	}
	return string(out), true
}

// cutTag cuts prefix, a quoted attribute value (value itself if not "",
// else any value that needs no decoding) and suffix from the start of d,
// and returns the value and what follows.
func cutTag(d []byte, prefix, value, suffix string) (string, []byte, bool) {
	if !bytes.HasPrefix(d, []byte(prefix)) || len(d) <= len(prefix) {
		return "", nil, false
	}
	q := d[len(prefix)]
	if q != '"' && q != '\'' {
		return "", nil, false
	}
	d = d[len(prefix)+1:]
	end := bytes.IndexByte(d, q)
	if end < 0 {
		return "", nil, false
	}
	v := d[:end]
	if value != "" && string(v) != value {
		return "", nil, false
	}
	// Attribute values are normalised too: no tab or line feed either.
	if !plainText(v) || bytes.ContainsAny(v, "\"'>\t\n") {
		return "", nil, false
	}
	d = d[end+1:]
	if !bytes.HasPrefix(d, []byte(suffix)) {
		return "", nil, false
	}
	return string(v), d[len(suffix):], true
}

// plainText: text the XML decoder would return unchanged: no markup, no
// entity, no carriage return (line ends are normalised), only XML 1.0
// characters in valid UTF-8.
func plainText(b []byte) bool {
	for len(b) > 0 {
		c := b[0]
		if c < utf8.RuneSelf {
			if c == '<' || c == '&' || c == '\r' || (c < 0x20 && c != '\t' && c != '\n') {
				return false
			}
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			return false
		}
		if !(r <= 0xD7FF || 0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0x10FFFF) {
			return false
		}
		b = b[n:]
	}
	return true
}
