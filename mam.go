package ox

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox/pep"
)

// Message Archive Management (XEP-0313) and Result Set Management
// (XEP-0059), as CatchUp uses them.
const (
	nsMAM = "urn:xmpp:mam:2"
	nsRSM = "http://jabber.org/protocol/rsm"
	nsSID = "urn:xmpp:sid:0"
)

// mamStart is the cursor recorded when the archive was empty on the first
// run: the next catch-up reads the archive from its beginning. Archive ids
// never look like this.
const mamStart = "(start of archive)"

// CatchUpOptions tune CatchUpWith.
type CatchUpOptions struct {
	// All reads the whole archive, not only what follows the cursor, and
	// also on the first run. Messages already handed over are not handed
	// over again.
	All bool
	// PageSize is how many archived messages to ask for at once (XEP-0059
	// <max/>); 0 means 50. Servers may send fewer (Prosody: at most
	// max_archive_query_results, 50 by default).
	PageSize int
	// MaxPages bounds one call; 0 means 20. When the archive holds more,
	// CatchUpWith returns ErrMoreInArchive with what it handed over so far,
	// and the next call goes on from there.
	MaxPages int
}

// ErrMoreInArchive: a catch-up stopped at CatchUpOptions.MaxPages; what it
// read is handed over and the cursor advanced, so calling CatchUp again
// goes on.
var ErrMoreInArchive = errors.New("ox: the archive holds more messages than one catch-up reads; call CatchUp again to go on")

// CatchUp hands over, through OnMessage, the OX messages that reached the
// account while this device was not listening: those another device of the
// account took live, so that the server's offline store kept nothing. It
// reads the account's archive (XEP-0313) after the last archived message
// this device processed (its cursor), page by page, in archive order; each
// OX message goes through the same reading and checks as a live one, with
// the archive's timestamp as its delivery time, and the cursor advances
// after each. A message already handed over (live, from the offline store,
// or by an earlier catch-up) is not handed over again: the archive's id is
// the stanza-id (XEP-0359) the server puts on live messages. Messages the
// account sent from another device come as copies (Message.Sent), as
// carbons would have brought them; so do those this device sent itself.
//
// On the first run on a device (no cursor yet) CatchUp does not replay the
// account's whole history: it records the newest archived message as the
// cursor and returns 0. CatchUpWith with All reads everything instead.
// When the archive no longer holds the cursor (expired), everything it
// holds is newer, and CatchUp reads it all.
//
// Call it after Online: Prosody holds the offline store back from a session
// that queried the archive before its initial presence, and on the first
// run CatchUp would not bring those messages either. Either order works
// once there is a cursor: a message from the offline store and from the
// archive shows once.
//
// CatchUp needs the session served with Handler (Serve), which collects
// the archive's results; it must not be called from OnMessage or an
// EventFunc, which run on the goroutine that processes the results, and
// not twice at once on one Client. It returns the number of messages
// handed over, rejected ones (Message.Err) included.
func (c *Client) CatchUp(ctx context.Context) (int, error) {
	return c.CatchUpWith(ctx, CatchUpOptions{})
}

// CatchUpWith is CatchUp with options.
func (c *Client) CatchUpWith(ctx context.Context, o CatchUpOptions) (int, error) {
	c.startWorker()
	pageSize, maxPages := o.PageSize, o.MaxPages
	if pageSize <= 0 {
		pageSize = 50
	}
	if maxPages <= 0 {
		maxPages = 20
	}
	archive := c.JID().String()
	cursor := ""
	if !o.All {
		cur, err := c.Store.MAMCursor(ctx, archive)
		if err != nil {
			return 0, err
		}
		if cur == "" {
			newest, err := c.newestArchived(ctx)
			if err != nil {
				return 0, err
			}
			if newest == "" {
				newest = mamStart
			}
			return 0, c.Store.SetMAMCursor(ctx, archive, newest)
		}
		if cur != mamStart {
			cursor = cur
		}
	}
	n := 0
	after := cursor
	for page := 0; ; page++ {
		if page == maxPages {
			return n, ErrMoreInArchive
		}
		results, fin, err := c.queryArchive(ctx, pageSize, after, false)
		if page == 0 && after != "" && isItemNotFound(err) {
			// The cursor has expired from the archive: what it still holds
			// came later.
			after = ""
			results, fin, err = c.queryArchive(ctx, pageSize, after, false)
		}
		if err != nil {
			return n, fmt.Errorf("ox: read the account's archive: %w", err)
		}
		if len(results) == 0 && fin.Set.First != "" {
			return n, errors.New("ox: the archive's results did not reach CatchUp: serve the session with Client.Handler")
		}
		k, err := c.processArchived(ctx, archive, results)
		n += k
		if err != nil {
			return n, err
		}
		if fin.complete() || len(results) == 0 || fin.Set.Last == "" {
			return n, nil
		}
		after = fin.Set.Last
	}
}

// newestArchived is the id of the newest message in the account's archive,
// "" if it is empty.
func (c *Client) newestArchived(ctx context.Context) (string, error) {
	results, fin, err := c.queryArchive(ctx, 1, "", true)
	if err != nil {
		return "", fmt.Errorf("ox: read the account's archive: %w", err)
	}
	if fin.Set.Last != "" {
		return fin.Set.Last, nil
	}
	if fin.Set.First != "" {
		return fin.Set.First, nil
	}
	if n := len(results); n > 0 {
		return results[n-1].id, nil
	}
	return "", nil
}

// mamResult is one <result/> of an archive query, as it arrived.
type mamResult struct {
	id  string
	raw []byte // the whole <message/> around the <result/>
}

// mamQuery collects the results of one archive query of one Client.
type mamQuery struct {
	c       *Client
	results []mamResult
}

// mamQueries are the archive queries under way, by queryid. The ids are
// random, so one registry serves every Client; each query remembers whose
// it is.
var mamQueries = struct {
	sync.Mutex
	m map[string]*mamQuery
}{m: map[string]*mamQuery{}}

// mamFin is the IQ result that ends a query (XEP-0313 §4.3).
type mamFin struct {
	Complete string `xml:"complete,attr"`
	Set      struct {
		First string `xml:"first"`
		Last  string `xml:"last"`
	} `xml:"http://jabber.org/protocol/rsm set"`
}

func (f *mamFin) complete() bool { return f.Complete == "true" || f.Complete == "1" }

// queryArchive asks the account's archive for up to max messages after the
// archive id after (from the beginning if ""), or, with newest, for the
// newest ones, and returns the results that arrived before the IQ result.
// The server sends them all before it, and the session handles stanzas in
// the order they come, so the list is complete when the IQ returns.
func (c *Client) queryArchive(ctx context.Context, max int, after string, newest bool) ([]mamResult, mamFin, error) {
	var fin mamFin
	qid := randomID()
	q := &mamQuery{c: c}
	mamQueries.Lock()
	mamQueries.m[qid] = q
	mamQueries.Unlock()
	defer func() {
		mamQueries.Lock()
		delete(mamQueries.m, qid)
		mamQueries.Unlock()
	}()
	set := []xml.TokenReader{xmlstream.Wrap(xmlstream.Token(xml.CharData(strconv.Itoa(max))), xml.StartElement{Name: xml.Name{Local: "max"}})}
	switch {
	case newest:
		// An empty <before/> asks for the last page (XEP-0059 §2.5).
		set = append(set, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "before"}}))
	case after != "":
		set = append(set, xmlstream.Wrap(xmlstream.Token(xml.CharData(after)), xml.StartElement{Name: xml.Name{Local: "after"}}))
	}
	payload := xmlstream.Wrap(
		xmlstream.Wrap(xmlstream.MultiReader(set...), xml.StartElement{Name: xml.Name{Space: nsRSM, Local: "set"}}),
		xml.StartElement{Name: xml.Name{Space: nsMAM, Local: "query"}, Attr: []xml.Attr{{Name: xml.Name{Local: "queryid"}, Value: qid}}},
	)
	err := c.Session.UnmarshalIQ(ctx, stanza.IQ{Type: stanza.SetIQ}.Wrap(payload), &fin)
	mamQueries.Lock()
	results := q.results
	q.results = nil
	mamQueries.Unlock()
	return results, fin, err
}

func isItemNotFound(err error) bool {
	var se stanza.Error
	return errors.As(err, &se) && se.Condition == stanza.ItemNotFound
}

// onMAMResult takes an archive result (<message><result xmlns="urn:xmpp:mam:2"/>)
// off the session for the query it answers. Results for a query this Client
// did not make, or from anyone but the account's own archive, are dropped.
func (c *Client) onMAMResult(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	raw, err := pep.ReadStanza(t)
	if err != nil {
		return nil // a broken stanza must not end the session
	}
	if !msg.From.Equal(jid.JID{}) && !msg.From.Equal(c.JID()) {
		return nil
	}
	qid, id, ok := mamResultIDs(raw)
	if !ok || id == "" {
		return nil
	}
	mamQueries.Lock()
	defer mamQueries.Unlock()
	if q := mamQueries.m[qid]; q != nil && q.c == c {
		q.results = append(q.results, mamResult{id: id, raw: raw})
	}
	return nil
}

// mamResultIDs reads the queryid and id of the <result/> under a message.
func mamResultIDs(raw []byte) (qid, id string, ok bool) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return "", "", false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Space == nsMAM && t.Name.Local == "result" {
				for _, a := range t.Attr {
					switch {
					case a.Name.Local == "queryid" && a.Name.Space == "":
						qid = a.Value
					case a.Name.Local == "id" && a.Name.Space == "":
						id = a.Value
					}
				}
				return qid, id, true
			}
		case xml.EndElement:
			depth--
		}
	}
}

// processArchived reads one page of results on the worker, after whatever
// it was doing, so that archived and live messages are read one at a time.
func (c *Client) processArchived(ctx context.Context, archive string, results []mamResult) (int, error) {
	if len(results) == 0 {
		return 0, nil
	}
	type outcome struct {
		n   int
		err error
	}
	done := make(chan outcome, 1)
	job := func(context.Context) {
		n, err := c.readArchived(ctx, archive, results)
		done <- outcome{n, err}
	}
	select {
	case c.queue <- job:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case r := <-done:
		return r.n, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// readArchived hands over the OX messages among results, advancing the
// cursor after each result.
func (c *Client) readArchived(ctx context.Context, archive string, results []mamResult) (int, error) {
	me := c.JID()
	n := 0
	for _, res := range results {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if r, ok := archivedMessage(res, me); ok {
			m, err := c.receive(ctx, r)
			if cerr := ctx.Err(); cerr != nil {
				return n, cerr // not read to the end: keep the cursor before it
			}
			if err == nil && m != nil {
				c.emit(m)
				n++
			}
		}
		if err := c.Store.SetMAMCursor(ctx, archive, res.id); err != nil {
			return n, err
		}
	}
	return n, nil
}

// archivedMessage takes the message out of an archive result
// (<result id><forwarded><delay stamp/><message/></forwarded></result>):
// delivered at the archive's stamp, with the archive id as its stanza-id,
// and a copy of a message sent if the account sent it.
func archivedMessage(res mamResult, me jid.JID) (received, bool) {
	inner, stamp, ok := forwarded(res.raw, nsMAM, "result")
	if !ok {
		return received{}, false
	}
	var head struct {
		From string `xml:"from,attr"`
		Type string `xml:"type,attr"`
	}
	if err := xml.Unmarshal(inner, &head); err != nil || head.Type == "error" {
		return received{}, false
	}
	sent := false
	if f, err := jid.Parse(head.From); err == nil && f.Bare().Equal(me.Bare()) {
		sent = true
	}
	return received{raw: withStanzaID(inner, me.Bare(), res.id), sent: sent, delivered: stamp, stanzaID: res.id}, true
}

// withStanzaID puts <stanza-id by=archive id/> first into the message, as
// the server does on live messages, so that a copy kept as pending is known
// again by it when it is read later.
func withStanzaID(msg []byte, by jid.JID, id string) []byte {
	d := xml.NewDecoder(bytes.NewReader(msg))
	for {
		tok, err := d.Token()
		if err != nil {
			return msg
		}
		if _, ok := tok.(xml.StartElement); !ok {
			continue
		}
		off := int(d.InputOffset())
		if off < 2 || off > len(msg) || bytes.HasSuffix(msg[:off], []byte("/>")) {
			return msg
		}
		var el bytes.Buffer
		el.WriteString(`<stanza-id xmlns="` + nsSID + `" by="`)
		xml.EscapeText(&el, []byte(by.String()))
		el.WriteString(`" id="`)
		xml.EscapeText(&el, []byte(id))
		el.WriteString(`"></stanza-id>`)
		out := make([]byte, 0, len(msg)+el.Len())
		out = append(out, msg[:off]...)
		out = append(out, el.Bytes()...)
		return append(out, msg[off:]...)
	}
}
