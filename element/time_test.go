package element

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	base := time.Date(2026, 11, 26, 11, 29, 46, 0, time.UTC)
	for _, tc := range []struct {
		in     string
		want   time.Time
		noZone bool
	}{
		{"2026-11-26T11:29:46Z", base, false},
		{"2026-11-26T11:29:46+00:00", base, false},
		{"2026-11-26T11:29:46-00:00", base, false},
		{"2026-11-26T11:29:46+0000", base, false}, // profanity, xmppc
		{"2026-11-26T13:29:46+0200", base, false},
		{"2026-11-26T13:29:46+02:00", base, false},
		{"2026-11-26T13:29:46+02", base, false},
		{"2026-11-26T06:29:46-05:00", base, false},
		{"2026-11-26T06:29:46-0500", base, false},
		{"2026-11-26T17:14:46+05:45", base, false},
		{"2026-11-26T11:29:46", base, true},
		{"2026-11-26t11:29:46z", base, false},
		{"2026-11-26 11:29:46Z", base, false},
		{"  2026-11-26T11:29:46Z\n", base, false},
		{"2026-11-26T11:29Z", base.Add(-46 * time.Second), false},
		{"20261126T11:29:46", base, true}, // XEP-0082 §4 legacy (XEP-0091)
		{"2026-11-26T11:29:46.123Z", base.Add(123 * time.Millisecond), false},
		{"2026-11-26T11:29:46,5Z", base.Add(500 * time.Millisecond), false},
		{"2026-11-26T11:29:46.123456789123Z", base.Add(123456789), false},
		{"2026-11-26T13:29:46.25+0200", base.Add(250 * time.Millisecond), false},
		{"2026-11-27T00:29:46+13:00", base, false},
		{"2016-12-31T23:59:60Z", time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), false}, // leap second
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), false},
		{"0000-01-01T00:00:00Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"9999-12-31T23:59:59Z", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), false},
	} {
		got, noZone, err := ParseTimeZone(tc.in)
		if err != nil {
			t.Errorf("ParseTimeZone(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) || got.Location() != time.UTC || noZone != tc.noZone {
			t.Errorf("ParseTimeZone(%q) = %v, %v; want %v, %v", tc.in, got, noZone, tc.want, tc.noZone)
		}
		if got2, err := ParseTime(tc.in); err != nil || !got2.Equal(got) {
			t.Errorf("ParseTime(%q) = %v, %v", tc.in, got2, err)
		}
	}
}

func TestParseTimeErrors(t *testing.T) {
	for _, in := range []string{
		"", "now", "2026", "2026-11-26", "2026-11-26T", "2026-11-26T11", "2026-11-26T11:29:4Z",
		"26-11-26T11:29:46Z", "2026-1-26T11:29:46Z", "2026/11/26T11:29:46Z", "2026-11-26X11:29:46Z",
		"2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-11-26T24:00:00Z", "2026-11-26T11:60:00Z", "2026-11-26T11:29:61Z",
		"2026-11-26T11:29:46.Z", "2026-11-26T11:29:46+2", "2026-11-26T11:29:46+02:", "2026-11-26T11:29:46+02:0",
		"2026-11-26T11:29:46+24:00", "2026-11-26T11:29:46+02:60", "2026-11-26T11:29:46ZZ", "2026-11-26T11:29:46 Z",
		"2026-11-26T11:29:46UTC", "2026-11-26T11:29:46+00:00:00", "+2026-11-26T11:29:46Z", "-001-01-01T00:00:00Z",
		"0000-01-01T00:00:00+01:00", // year -1 in UTC
		"9999-12-31T23:59:59-01:00", // year 10000 in UTC
		"２０２６-11-26T11:29:46Z",
	} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", in, got)
		} else {
			wantErr(t, err, ErrBadTime, "time")
		}
	}
}

func TestFormatTime(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 26, 11, 29, 46, 0, time.UTC), "2026-11-26T11:29:46Z"},
		{time.Date(2026, 11, 26, 11, 29, 46, 999_999_999, time.UTC), "2026-11-26T11:29:46Z"}, // truncated
		{time.Date(2026, 11, 26, 13, 29, 46, 0, time.FixedZone("", 2*3600)), "2026-11-26T11:29:46Z"},
		{time.Date(1969, 7, 20, 21, 56, 15, 0, time.FixedZone("CDT", -5*3600)), "1969-07-21T02:56:15Z"}, // XEP-0082 example
	} {
		if got := FormatTime(tc.in); got != tc.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := ParseTime(tc.want)
		if err != nil || !back.Equal(tc.in.Truncate(time.Second)) {
			t.Errorf("ParseTime(FormatTime(%v)) = %v, %v", tc.in, back, err)
		}
	}
}
