package mam

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/element"
	"codeberg.org/ox/ox/internal/xmlx"
	"codeberg.org/ox/ox/pep"
)

const (
	nsMAM = "urn:xmpp:mam:2"
	nsRSM = "http://jabber.org/protocol/rsm"
	nsSID = "urn:xmpp:sid:0"
)

const mamStart = "(start of archive)"

type Archive struct {
	c *ox.Client

	mu       sync.Mutex
	queries  map[string]*query // the queries under way, by queryid
	caughtUp bool              // a catch-up read the archive to its end in this session
	onlineAt time.Time         // when Online began (this device's clock), for a first run's position
}

func New(c *ox.Client) *Archive {
	a := &Archive{c: c, queries: map[string]*query{}}
	// Prosody sends archive results without a type.
	c.Handle(mux.MessageFunc(stanza.NormalMessage, xml.Name{Space: nsMAM, Local: "result"}, a.onResult))
	c.OnProcessed(a.follow)
	c.BeforeOnline(a.beforeOnline)
	return a
}

// DeliveredRetention is how long the ids of messages handed over are kept
// to recognise a second copy (the offline store, the archive, carbons): a
// copy of a message that old no longer comes but from a whole re-read of
// the archive (CatchUpWith All, or a cursor the archive no longer holds).
const DeliveredRetention = 7 * 24 * time.Hour

// follow moves the archive position along with the messages that arrive
// while the device listens, once a catch-up has read the archive to its
// end: each such message carries its archive id (the server's stanza-id),
// and the archive holds nothing before it that this device has not read.
// The next catch-up then starts after the last message seen, not after the
// last one caught up.
func (a *Archive) follow(ctx context.Context, m *ox.Message) {
	a.mu.Lock()
	ready := a.caughtUp
	a.mu.Unlock()
	if !ready || m.StanzaID == "" || !m.Room.Equal(jid.JID{}) {
		return
	}
	switch m.Origin {
	case ox.OriginLive, ox.OriginOffline, ox.OriginCarbon:
		a.c.Store.SetMAMCursor(ctx, a.c.JID().String(), m.StanzaID)
	}
}

// done marks the archive read to its end in this session (unless hold:
// see Options.Hold), and forgets the ids of messages handed over long ago.
func (a *Archive) done(ctx context.Context, hold bool) {
	a.mu.Lock()
	a.caughtUp = !hold
	a.mu.Unlock()
	a.c.Store.PruneDelivered(ctx, a.c.Clock().Add(-DeliveredRetention))
}

type Options struct {
	// All reads the whole archive, not only what follows the cursor, and
	// also on the first run. Messages already handed over are not handed
	// over again.
	All bool
	// PageSize is how many archived messages to ask for at once (XEP-0059
	// <max/>); 0 means 50. Servers may send fewer (Prosody: at most
	// max_archive_query_results, 50 by default).
	PageSize int
	// Hold leaves the archive position where this catch-up ends, instead
	// of moving it along with the live messages that follow, until a
	// later catch-up without Hold. A message on its way to the account's
	// previous session (one that ended without a goodbye: a cut, a killed
	// process) can reach the archive only after this catch-up read it,
	// with an id before the live messages that come next: ejabberd
	// archives in the receiving session's process, which goes on for a
	// moment after its client is gone. A position moved past it would
	// never read it; the later catch-up does. Found by the daemon's soak
	// test (issue 14).
	Hold bool
	// MaxPages bounds one call; 0 means 20. When the archive holds more,
	// CatchUpWith returns ErrMoreInArchive with what it handed over so far,
	// and the next call goes on from there.
	MaxPages int
}

var ErrMoreInArchive = errors.New("mam: the archive holds more messages than one catch-up reads; call CatchUp again to go on")

func (a *Archive) CatchUp(ctx context.Context) (int, error) {
	return a.CatchUpWith(ctx, Options{})
}

func (a *Archive) CatchUpWith(ctx context.Context, o Options) (int, error) {
	c := a.c
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
			// A first run whose position Online did not set (the server
			// has no archive metadata, or the Archive was made after it).
			if cur, err = a.firstPosition(ctx, pageSize, maxPages); err != nil {
				return 0, err
			}
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
		results, fin, err := a.queryArchive(ctx, pageSize, after, nil)
		if page == 0 && after != "" && isItemNotFound(err) {
			// The cursor has expired from the archive: what it still holds
			// came later.
			after = ""
			results, fin, err = a.queryArchive(ctx, pageSize, after, nil)
		}
		if err != nil {
			return n, fmt.Errorf("mam: read the account's archive: %w", err)
		}
		if len(results) == 0 && fin.Set.First != "" {
			return n, errors.New("mam: the archive's results did not reach CatchUp: make the Archive (New) before serving the session")
		}
		k, err := a.processArchived(ctx, archive, results)
		n += k
		if err != nil {
			return n, err
		}
		if fin.complete() || len(results) == 0 || fin.Set.Last == "" {
			if !o.All {
				a.done(ctx, o.Hold)
			}
			return n, nil
		}
		after = fin.Set.Last
	}
}

// beforeOnline notes when the device asked to come online and, on a
// first run (no archive position yet), sets the position to the newest
// message archived now, from the archive's metadata (XEP-0313's
// <metadata/>, urn:xmpp:mam:2#extended): what came before it is history
// this device never had, not replayed; what follows is read. Done before
// the available presence goes out, a message that reached the archive
// while the device came online is read even when the server neither
// delivered it live nor from the offline store: ejabberd can store a
// message offline just after the presence read that store, when the two
// cross (the listen soak lost msg-0000 so, issue 14). Only the metadata is
// asked for here: Prosody keeps the offline store from a session that
// queried the archive itself before its presence.
func (a *Archive) beforeOnline(ctx context.Context) {
	a.mu.Lock()
	a.onlineAt = a.c.Clock()
	a.mu.Unlock()
	archive := a.c.JID().String()
	if cur, err := a.c.Store.MAMCursor(ctx, archive); err != nil || cur != "" {
		return
	}
	// Not fatal: a server without archive metadata comes online all the
	// same, and CatchUp finds the position by the archive's times.
	end, err := a.archiveEnd(ctx)
	if err != nil {
		return
	}
	if end == "" {
		end = mamStart
	}
	a.c.Store.SetMAMCursor(ctx, archive, end)
}

// firstPosition sets the archive position of a first run that Online did
// not set: the newest message archived before Online began (by the
// archive's times, which the server stamps; by this device's clock, so a
// clock behind the server's reads a few more), or the newest of all when
// Online was not called. It returns the position.
func (a *Archive) firstPosition(ctx context.Context, pageSize, maxPages int) (string, error) {
	a.mu.Lock()
	at := a.onlineAt
	a.mu.Unlock()
	pos := ""
	var err error
	if at.IsZero() {
		pos, err = a.newestArchived(ctx)
	} else {
		pos, err = a.newestBefore(ctx, at, pageSize, maxPages)
	}
	if err != nil {
		return "", err
	}
	if pos == "" {
		pos = mamStart
	}
	return pos, a.c.Store.SetMAMCursor(ctx, a.c.JID().String(), pos)
}

// newestBefore pages back from the archive's end to the newest message
// stamped before at ("" when the archive holds none). After maxPages it
// settles for the oldest message it read.
func (a *Archive) newestBefore(ctx context.Context, at time.Time, pageSize, maxPages int) (string, error) {
	back, oldest := "", ""
	for page := 0; page < maxPages; page++ {
		results, fin, err := a.queryArchive(ctx, pageSize, "", &back)
		if err != nil {
			return "", fmt.Errorf("mam: read the account's archive: %w", err)
		}
		if len(results) == 0 && fin.Set.Last != "" {
			return fin.Set.Last, nil // the results did not reach the Archive: the newest, as before
		}
		for i := len(results) - 1; i >= 0; i-- {
			_, stamp, ok := element.Forwarded(results[i].raw, nsMAM, "result")
			if !ok || stamp.Before(at) {
				return results[i].id, nil
			}
			oldest = results[i].id
		}
		if len(results) == 0 || fin.complete() || fin.Set.First == "" {
			return "", nil // the archive's start: all of it came since
		}
		back = fin.Set.First
	}
	return oldest, nil
}

// archiveEnd asks for the archive's metadata (XEP-0313's <metadata/>) and
// returns the id of its newest message ("" when it holds none).
func (a *Archive) archiveEnd(ctx context.Context) (_ string, err error) {
	ctx, cancel := a.c.Request(ctx)
	defer cancel()
	defer func() { err = a.c.RequestError(ctx, err) }()
	var md struct {
		End struct {
			ID string `xml:"id,attr"`
		} `xml:"end"`
	}
	q := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsMAM, Local: "metadata"}})
	if err := a.c.Session.UnmarshalIQ(ctx, stanza.IQ{Type: stanza.GetIQ}.Wrap(q), &md); err != nil {
		return "", fmt.Errorf("mam: read the account's archive's metadata: %w", err)
	}
	return md.End.ID, nil
}

func (a *Archive) newestArchived(ctx context.Context) (string, error) {
	last := ""
	results, fin, err := a.queryArchive(ctx, 1, "", &last)
	if err != nil {
		return "", fmt.Errorf("mam: read the account's archive: %w", err)
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

type mamResult struct {
	id  string
	raw []byte // the whole <message/> around the <result/>
}

type query struct {
	results []mamResult
}

type mamFin struct {
	Complete string `xml:"complete,attr"`
	Set      struct {
		First string `xml:"first"`
		Last  string `xml:"last"`
	} `xml:"http://jabber.org/protocol/rsm set"`
}

func (f *mamFin) complete() bool { return f.Complete == "true" || f.Complete == "1" }

// queryArchive reads one page of the archive: after the id after, or,
// with back, the page before the id *back (the last page when it is "").
func (a *Archive) queryArchive(ctx context.Context, max int, after string, back *string) (_ []mamResult, _ mamFin, err error) {
	ctx, cancel := a.c.Request(ctx)
	defer cancel()
	defer func() { err = a.c.RequestError(ctx, err) }()
	var fin mamFin
	qid := ox.NewID()
	q := &query{}
	a.mu.Lock()
	a.queries[qid] = q
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.queries, qid)
		a.mu.Unlock()
	}()
	set := []xml.TokenReader{xmlstream.Wrap(xmlstream.Token(xml.CharData(strconv.Itoa(max))), xml.StartElement{Name: xml.Name{Local: "max"}})}
	switch {
	case back != nil:
		// An empty <before/> asks for the last page (XEP-0059 §2.5).
		var id xml.TokenReader
		if *back != "" {
			id = xmlstream.Token(xml.CharData(*back))
		}
		set = append(set, xmlstream.Wrap(id, xml.StartElement{Name: xml.Name{Local: "before"}}))
	case after != "":
		set = append(set, xmlstream.Wrap(xmlstream.Token(xml.CharData(after)), xml.StartElement{Name: xml.Name{Local: "after"}}))
	}
	payload := xmlstream.Wrap(
		xmlstream.Wrap(xmlstream.MultiReader(set...), xml.StartElement{Name: xml.Name{Space: nsRSM, Local: "set"}}),
		xml.StartElement{Name: xml.Name{Space: nsMAM, Local: "query"}, Attr: []xml.Attr{{Name: xml.Name{Local: "queryid"}, Value: qid}}},
	)
	err = a.c.Session.UnmarshalIQ(ctx, stanza.IQ{Type: stanza.SetIQ}.Wrap(payload), &fin)
	a.mu.Lock()
	results := q.results
	q.results = nil
	a.mu.Unlock()
	return results, fin, err
}

func isItemNotFound(err error) bool {
	var se stanza.Error
	return errors.As(err, &se) && se.Condition == stanza.ItemNotFound
}

func (a *Archive) onResult(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	// The first <result/> child's query id and archive id, noted as the
	// stanza is read.
	found, qid, id := false, "", ""
	raw, err := pep.ReadStanza(&xmlx.Starts{R: t, F: func(depth int, s xml.StartElement) {
		if depth != 2 || found || s.Name.Space != nsMAM || s.Name.Local != "result" {
			return
		}
		found = true
		for _, at := range s.Attr {
			switch {
			case at.Name.Local == "queryid" && at.Name.Space == "":
				qid = at.Value
			case at.Name.Local == "id" && at.Name.Space == "":
				id = at.Value
			}
		}
	}})
	if err != nil {
		return nil // a broken stanza must not end the session
	}
	if !msg.From.Equal(jid.JID{}) && !msg.From.Equal(a.c.JID()) {
		return nil
	}
	if id == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if q := a.queries[qid]; q != nil {
		q.results = append(q.results, mamResult{id: id, raw: raw})
	}
	return nil
}

func (a *Archive) processArchived(ctx context.Context, archive string, results []mamResult) (int, error) {
	if len(results) == 0 {
		return 0, nil
	}
	var n int
	var rerr error
	if err := a.c.Do(ctx, func(ctx context.Context) { n, rerr = a.readArchived(ctx, archive, results) }); err != nil && rerr == nil {
		rerr = err
	}
	return n, rerr
}

func (a *Archive) readArchived(ctx context.Context, archive string, results []mamResult) (n int, err error) {
	c := a.c
	me := c.JID()
	// The cursor moves once for the page, after the last result read to
	// its end (a write for each result was a tenth of a catch-up's time);
	// a result not read to its end stays after it, to be read again.
	read := ""
	defer func() {
		if read == "" {
			return
		}
		if cerr := c.Store.SetMAMCursor(context.WithoutCancel(ctx), archive, read); err == nil {
			err = cerr
		}
	}()
	for _, res := range results {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		// A copy of a message handed over already (the offline store or a
		// live session brought it) is skipped before it is unwrapped.
		if seen, err := c.Seen(ctx, res.id); err != nil || !seen {
			if in, ok := archivedMessage(res, me); ok {
				m, err := c.Process(ctx, in)
				switch {
				case err == nil && m != nil:
					// Judged and recorded as handed over: it must be shown
					// now, even when the session is ending, or it never will be.
					if c.OnMessage != nil {
						c.OnMessage(m)
					}
					n++
				case ctx.Err() != nil:
					return n, ctx.Err() // not read to the end: keep the cursor before it
				}
			}
		}
		read = res.id
	}
	return n, nil
}

func archivedMessage(res mamResult, me jid.JID) (ox.Incoming, bool) {
	inner, stamp, ok := element.Forwarded(res.raw, nsMAM, "result")
	if !ok {
		return ox.Incoming{}, false
	}
	var head struct {
		From string `xml:"from,attr"`
		Type string `xml:"type,attr"`
	}
	if err := xml.Unmarshal(inner, &head); err != nil || head.Type == "error" {
		return ox.Incoming{}, false
	}
	sent := false
	if f, err := jid.Parse(head.From); err == nil && f.Bare().Equal(me.Bare()) {
		sent = true
	}
	return ox.Incoming{Raw: element.WithStanzaID(inner, me.Bare().String(), res.id), Origin: ox.OriginArchive, Sent: sent, Delivered: stamp, StanzaID: res.id}, true
}
