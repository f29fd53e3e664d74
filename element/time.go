package element

import (
	"strconv"
	"time"
)

// xep0082Layout is the XEP-0082 §3.2 DateTime profile in UTC, without
// fractional seconds.
const xep0082Layout = "2006-01-02T15:04:05Z"

// FormatTime formats t as an XEP-0082 §3.2 DateTime in UTC with a "Z"
// zone designator and no fractional seconds, e.g. "2026-11-26T11:29:32Z".
//
// Fractional seconds are dropped (truncated, never rounded up into the
// future): XEP-0082 makes them optional and lets receivers ignore them,
// every client seen in the wild writes whole seconds, the receiver's
// plausibility window (XEP-0373 §3.2) is far coarser than a second, and
// fewer digits give less to fingerprint a sender by. UTC is used because a
// local offset reveals the sender's location (XEP-0082 §7).
func FormatTime(t time.Time) string {
	return t.UTC().Format(xep0082Layout)
}

// ParseTime reads a DateTime tolerantly. It accepts what XEP-0082 §3.2
// defines (CCYY-MM-DDThh:mm:ss[.sss]TZD with TZD "Z" or ±hh:mm) and what
// clients really send:
//
//   - offsets without a colon ("+0000", "+0200"; profanity and xmppc
//     write "+0000") and hour-only offsets ("+02");
//   - a lower-case "z" or "t", or a space instead of "T" (RFC 3339 §5.6);
//   - any number of fractional second digits, with "." or ",";
//   - no zone designator at all: the time is taken as UTC (see
//     ParseTimeZone to learn that it was missing);
//   - the legacy CCYYMMDDThh:mm:ss form of XEP-0082 §4 (XEP-0091 delays).
//
// The result is in UTC. Times whose UTC year is outside 0000..9999 are
// refused, so that FormatTime can always write them back. A stamp in local
// time wrongly marked "Z" (profanity) cannot be detected here; the
// receiver checks compare the time with a window around now.
func ParseTime(s string) (time.Time, error) {
	t, _, err := ParseTimeZone(s)
	return t, err
}

// ParseTimeZone is ParseTime that also reports whether the stamp lacked a
// zone designator (and was therefore taken as UTC).
func ParseTimeZone(s string) (t time.Time, noZone bool, err error) {
	bad := func(reason string) (time.Time, bool, error) {
		return time.Time{}, false, perr("", "time", ErrBadTime, quoteShort(s)+": "+reason)
	}
	p := trimXMLSpace(s)
	i := 0
	num := func(n int) (int, bool) {
		if i+n > len(p) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(p[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		i += n
		return v, true
	}
	lit := func(c byte) bool {
		if i < len(p) && p[i] == c {
			i++
			return true
		}
		return false
	}

	year, ok := num(4)
	if !ok {
		return bad("want a four-digit year")
	}
	compact := !lit('-')
	month, ok := num(2)
	if !ok || !compact && !lit('-') {
		return bad("want -MM-")
	}
	day, ok := num(2)
	if !ok {
		return bad("want a two-digit day")
	}
	if !(lit('T') || lit('t') || lit(' ')) {
		return bad("want T between date and time")
	}
	hour, ok := num(2)
	if !ok || !lit(':') {
		return bad("want hh:")
	}
	minute, ok := num(2)
	if !ok {
		return bad("want two-digit minutes")
	}
	sec := 0
	if lit(':') {
		if sec, ok = num(2); !ok {
			return bad("want two-digit seconds")
		}
	}
	nsec := 0
	if lit('.') || lit(',') {
		digits := 0
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			if digits < 9 {
				nsec = nsec*10 + int(p[i]-'0')
			}
			digits++
			i++
		}
		if digits == 0 {
			return bad("want digits after the decimal point")
		}
		for d := digits; d < 9; d++ {
			nsec *= 10
		}
	}
	offset := 0
	switch {
	case i == len(p):
		noZone = true
	case lit('Z') || lit('z'):
	case i < len(p) && (p[i] == '+' || p[i] == '-'):
		sign := 1
		if p[i] == '-' {
			sign = -1
		}
		i++
		oh, ok := num(2)
		if !ok {
			return bad("want a two-digit zone offset")
		}
		om := 0
		if i < len(p) {
			lit(':')
			if om, ok = num(2); !ok {
				return bad("want zone offset minutes")
			}
		}
		if oh > 23 || om > 59 {
			return bad("zone offset out of range")
		}
		offset = sign * (oh*3600 + om*60)
	default:
		return bad("want a zone designator (Z or ±hh:mm)")
	}
	if i != len(p) {
		return bad("unexpected characters after the time")
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || sec > 60 {
		return bad("field out of range")
	}
	// A leap second (ss = 60) is normalised into the next minute.
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	t = t.Add(-time.Duration(offset) * time.Second)
	if y := t.Year(); y < 0 || y > 9999 {
		return bad("year out of range in UTC")
	}
	return t, noZone, nil
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// trimXMLSpace trims XML whitespace (space, tab, CR, LF).
func trimXMLSpace(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// quoteShort quotes s for an error message, shortened to 64 bytes.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}
