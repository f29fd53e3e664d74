// Command bench runs ox's benchmarks (issue 5) and prints each figure beside
// its baseline from the same run, the ratio, the target and whether it is
// met:
//
//	go run ./bench                 # the timing table: each benchmark 3 times, medians (about 2 minutes)
//	go run ./bench -count 1        # once each (about 45 s)
//	go run ./bench -traffic        # key distribution on the wire, against Prosody
//	go run ./bench -all            # both
//	go run ./bench -soak           # the daemon's soak: 10,000 messages across cuts, a server restart, a SIGKILL
//
// It runs `go test -run '^$' -bench … -benchmem` with a fixed -benchtime
// over ./pgp/native (and . for -traffic) and reads its output; -v shows
// that output as it comes. Benchmarks are not tests: nothing here fails
// because the machine is slow, and the exit status is 0 even when a
// target is missed (1 when the benchmarks could not run).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	benchtime := flag.String("benchtime", "1s", "go test -benchtime for the timing benchmarks")
	count := flag.Int("count", 3, "go test -count: run each benchmark this many times and take the medians")
	traffic := flag.Bool("traffic", false, "measure key distribution against a local Prosody instead of timing")
	all := flag.Bool("all", false, "the timing table and the traffic table")
	verbose := flag.Bool("v", false, "show go test's output as it runs")
	soak := flag.Bool("soak", false, "run the daemon's soak test (10,000 messages; -soak-n) instead of the tables")
	soakN := flag.Int("soak-n", 10000, "messages in the soak test")
	flag.Parse()

	root, err := moduleRoot()
	if err != nil {
		fatal(err)
	}
	if *soak {
		os.Exit(runSoak(root, *soakN))
	}
	if !*traffic || *all {
		res, err := run(root, *verbose, "-bench", timingBenchmarks, "-benchtime", *benchtime, "-count", strconv.Itoa(*count), "./pgp/native/")
		if err != nil {
			fatal(err)
		}
		fmt.Printf("ox benchmarks: -benchtime %s -count %d, GOMAXPROCS %s, %s\n\n", *benchtime, *count, res.procs, res.cpu)
		printTiming(os.Stdout, res)
	}
	if *traffic || *all {
		if !*traffic || *all {
			fmt.Println()
		}
		res, err := run(root, *verbose, "-bench", "^BenchmarkTraffic$", "-benchtime", "1x", "-count", "1", ".")
		if err != nil {
			fatal(err)
		}
		printTraffic(os.Stdout, res)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

const timingBenchmarks = "^Benchmark(Seal|Open|X25519|Lookup|OpenStored|Startup|SealGroup|IngestPEPKey)$"

// results are the parsed output of go test -bench.
type results struct {
	samples map[string][]map[string]float64 // benchmark -> runs -> unit -> value
	skipped map[string]string               // benchmark -> reason
	logs    map[string][]string             // benchmark -> its log lines
	procs   string
	cpu     string
}

var (
	benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-(\d+))?\s+(\d+)\s+(.*)$`)
	skipLine  = regexp.MustCompile(`^\s*--- SKIP: (Benchmark\S+?)(?:-\d+)?(?:\s|$)`)
	benchHead = regexp.MustCompile(`^\s*--- (?:BENCH|FAIL|SKIP): (Benchmark\S+?)(?:-\d+)?(?:\s|$)`)
)

func run(root string, verbose bool, args ...string) (*results, error) {
	args = append([]string{"test", "-run", "^$", "-benchmem", "-timeout", "60m"}, args...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	var w io.Writer = &out
	if verbose {
		fmt.Fprintln(os.Stderr, "$ go", strings.Join(args, " "))
		w = io.MultiWriter(&out, os.Stderr)
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	if !verbose {
		fmt.Fprintf(os.Stderr, "running go %s ...\n", strings.Join(args, " "))
	}
	err := cmd.Run()
	res := parse(out.Bytes())
	if err != nil {
		if len(res.samples) == 0 {
			return nil, fmt.Errorf("go test: %v\n%s", err, out.Bytes())
		}
		fmt.Fprintf(os.Stderr, "bench: go test: %v (printing what ran)\n%s\n", err, failures(out.Bytes()))
	}
	fmt.Fprintf(os.Stderr, "done in %v\n", time.Since(start).Round(time.Second))
	return res, nil
}

// failures are the lines of go test's output that say what went wrong.
func failures(out []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "FAIL") || strings.Contains(l, "_test.go:") || strings.Contains(l, "panic") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func parse(out []byte) *results {
	r := &results{samples: map[string][]map[string]float64{}, skipped: map[string]string{}, logs: map[string][]string{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	current := ""
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "cpu: ") {
			r.cpu = strings.TrimPrefix(line, "cpu: ")
		}
		if m := benchLine.FindStringSubmatch(line); m != nil {
			vals := map[string]float64{}
			f := strings.Fields(m[4])
			for i := 0; i+1 < len(f); i += 2 {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					vals[f[i+1]] = v
				}
			}
			r.samples[m[1]] = append(r.samples[m[1]], vals)
			if m[2] != "" {
				r.procs = m[2]
			}
			current = ""
			continue
		}
		if m := skipLine.FindStringSubmatch(line); m != nil {
			r.skipped[m[1]] = ""
			current = m[1]
			continue
		}
		if m := benchHead.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if current != "" && strings.HasPrefix(line, "    ") {
			text := strings.TrimSpace(line)
			if i := strings.Index(text, ": "); i > 0 && strings.Contains(text[:i], ".go:") {
				text = text[i+2:]
			}
			if _, ok := r.skipped[current]; ok && r.skipped[current] == "" {
				r.skipped[current] = text
			}
			r.logs[current] = append(r.logs[current], text)
			continue
		}
		current = ""
	}
	if r.procs == "" {
		r.procs = "1"
	}
	return r
}

// value is the median of a benchmark's unit over its runs.
func (r *results) value(bench, unit string) (float64, bool) {
	var vs []float64
	for _, s := range r.samples[bench] {
		if v, ok := s[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if len(vs)%2 == 1 {
		return vs[len(vs)/2], true
	}
	return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
}

func (r *results) ns(bench string) (float64, bool) { return r.value(bench, "ns/op") }

// A target compares a figure with a baseline.
type target struct {
	what     string // the row's label
	bench    string // the figure's benchmark (ns/op), or "" when figure is set
	figure   func(*results) (float64, bool)
	unit     string // how to print figure and baseline: "ns", "B", "x"
	base     string // the baseline's benchmark (ns/op)
	baseName string // its label
	// ratio: figure/baseline must be <= max; speedup: baseline/figure >= min;
	// metric: figure itself must be <= max.
	kind     string
	limit    float64
	note     string
	skipFrom []string // benchmarks whose skip makes the row skipped
}

var targets = []target{
	{what: "signcrypt 1:1 (ox: text -> <openpgp/>)", bench: "BenchmarkSeal/ox", base: "BenchmarkSeal/gocrypto", baseName: "bare go-crypto", kind: "ratio", limit: 1.25},
	{what: "signcrypt 1:1", bench: "BenchmarkSeal/ox", base: "BenchmarkSeal/floor", baseName: "primitive floor", kind: "ratio", limit: 1.5},
	{what: "decrypt+verify+checks (ox: <openpgp/> -> body)", bench: "BenchmarkOpen/ox", base: "BenchmarkOpen/gocrypto", baseName: "bare go-crypto", kind: "ratio", limit: 1.25},
	{what: "decrypt+verify+checks", bench: "BenchmarkOpen/ox", base: "BenchmarkOpen/floor", baseName: "primitive floor", kind: "ratio", limit: 1.5},
	{what: "  of which Backend.Open alone", bench: "BenchmarkOpen/ox-backend", base: "BenchmarkOpen/gocrypto", baseName: "bare go-crypto", kind: "ratio", limit: 1.25, note: "diagnostic"},
	{what: "  bare go-crypto signcrypt", bench: "BenchmarkSeal/gocrypto", base: "BenchmarkSeal/floor", baseName: "primitive floor", kind: "ratio", note: "info"},
	{what: "  bare go-crypto decrypt+verify", bench: "BenchmarkOpen/gocrypto", base: "BenchmarkOpen/floor", baseName: "primitive floor", kind: "ratio", note: "info"},
	{what: "signcrypt 1:1 vs gpg per message", bench: "BenchmarkSeal/ox", base: "BenchmarkSeal/gpg", baseName: "one gpg process", kind: "speedup", limit: 50, skipFrom: []string{"BenchmarkSeal/gpg"}},
	{what: "decrypt+checks vs gpg per message", bench: "BenchmarkOpen/ox", base: "BenchmarkOpen/gpg", baseName: "one gpg process", kind: "speedup", limit: 50, skipFrom: []string{"BenchmarkOpen/gpg"}},
	{what: "  primitive floor (send) vs gpg", bench: "BenchmarkSeal/floor", base: "BenchmarkSeal/gpg", baseName: "one gpg process", kind: "speedup", note: "info", skipFrom: []string{"BenchmarkSeal/gpg"}},
	{what: "  primitive floor (receive) vs gpg", bench: "BenchmarkOpen/floor", base: "BenchmarkOpen/gpg", baseName: "one gpg process", kind: "speedup", note: "info", skipFrom: []string{"BenchmarkOpen/gpg"}},
	{what: "key lookup, 1,000 keys stored", bench: "BenchmarkLookup/keys=1000", base: "BenchmarkLookup/keys=10", baseName: "10 keys", kind: "ratio", note: "info"},
	{what: "key lookup, 10,000 keys stored", bench: "BenchmarkLookup/keys=10000", base: "BenchmarkLookup/keys=10", baseName: "10 keys", kind: "ratio", note: "info"},
	{what: "key lookup, 100,000 keys stored", bench: "BenchmarkLookup/keys=100000", base: "BenchmarkLookup/keys=10", baseName: "10 keys", kind: "ratio", limit: 2},
	{what: "decrypt+checks, 100,000 keys stored", bench: "BenchmarkOpenStored/keys=100000", base: "BenchmarkOpenStored/keys=10", baseName: "10 keys", kind: "ratio", limit: 2},
	{what: "start-up, 10,000 contacts", bench: "BenchmarkStartup/contacts=10000", base: "BenchmarkStartup/contacts=0", baseName: "no contacts", kind: "ratio", limit: 2},
	{what: "group of 100: cost per added recipient", figure: perRecipient, unit: "ns", base: "BenchmarkX25519", baseName: "one X25519 agreement", kind: "ratio", limit: 1.2},
	{what: "group of 100: bytes per added recipient", figure: metric("BenchmarkSealGroup/members=100", "B/recipient"), unit: "B", kind: "metric", limit: 130},
	{what: "group of 100: whole message", bench: "BenchmarkSealGroup/members=100", base: "BenchmarkSealGroup/members=1", baseName: "1 member", kind: "ratio", note: "info"},
	{what: "recipients that fit in 256 KiB", figure: metric("BenchmarkSealGroup/members=100", "recipients/256KiB"), unit: "n", kind: "metric", note: "info"},
	{what: "ingest a key from PEP", bench: "BenchmarkIngestPEPKey", base: "BenchmarkOpen/ox", baseName: "one message", kind: "ratio", note: "info"},
}

func metric(bench, unit string) func(*results) (float64, bool) {
	return func(r *results) (float64, bool) { return r.value(bench, unit) }
}

// perRecipient is what each of the 99 recipients added to members=100
// over members=1 costs.
func perRecipient(r *results) (float64, bool) {
	a, ok1 := r.ns("BenchmarkSealGroup/members=100")
	b, ok2 := r.ns("BenchmarkSealGroup/members=1")
	return (a - b) / 99, ok1 && ok2
}

func printTiming(w io.Writer, r *results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tfigure\tbaseline\tbaseline figure\tratio\ttarget\tresult")
	passed, missed := 0, 0
	for _, t := range targets {
		fig := t.figure
		if fig == nil {
			fig = func(r *results) (float64, bool) { return r.ns(t.bench) }
		}
		unit := t.unit
		if unit == "" {
			unit = "ns"
		}
		skipped := ""
		for _, s := range t.skipFrom {
			if reason, ok := r.skipped[s]; ok {
				skipped = reason
			}
		}
		v, ok := fig(r)
		var bv float64
		var bok bool
		if t.base != "" {
			bv, bok = r.ns(t.base)
		}
		row := []string{t.what, "-", t.baseName, "-", "-", "-", ""}
		if ok {
			row[1] = format(v, unit)
		}
		if bok {
			row[3] = format(bv, "ns")
		}
		info := t.note == "info" || (t.kind != "metric" && t.limit == 0)
		switch t.kind {
		case "ratio":
			if ok && bok && bv > 0 {
				row[4] = fmt.Sprintf("%.2fx", v/bv)
				if !info {
					row[5] = fmt.Sprintf("<= %.2fx", t.limit)
					row[6] = verdict(v/bv <= t.limit)
				}
			}
		case "speedup":
			if ok && bok && v > 0 {
				row[4] = fmt.Sprintf("%.1fx faster", bv/v)
				if !info {
					row[5] = fmt.Sprintf(">= %.0fx faster", t.limit)
					row[6] = verdict(bv/v >= t.limit)
				}
			}
		case "metric":
			if ok && !info {
				row[5] = "<= " + format(t.limit, unit)
				row[6] = verdict(v <= t.limit)
			}
		}
		switch {
		case skipped != "":
			row[6] = "SKIP: " + skipped
		case !ok || (t.base != "" && !bok):
			row[6] = "not run"
		case info:
			row[6] = "(info)"
		case t.note == "diagnostic":
			row[6] = "(" + strings.ToLower(row[6]) + ")"
		case row[6] == "PASS":
			passed++
		case row[6] == "MISS":
			missed++
		}
		if t.base == "" {
			row[2], row[3] = "", ""
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d targets met, %d missed.\n", passed, missed)
	fmt.Fprintln(w, "\nThe primitive floor is the X25519, Ed25519 and AES work of one message, one operation after the other")
	fmt.Fprintln(w, "on one core, each with the fastest Go implementation here (circl's X25519, as go-crypto uses it;")
	fmt.Fprintln(w, "crypto/ed25519; crypto/aes). ox makes a message's key packets on every core while it signs, so a send")
	fmt.Fprintln(w, "can cost less than the floor. The floor's own speedup over one gpg process is the most that doing")
	fmt.Fprintln(w, "the cryptography one operation at a time could reach on this machine.")
	fmt.Fprintln(w, "\nAll figures per message (ns/op); the ratios compare figures of the same run.")
	fmt.Fprintln(w, "Raw figures (median of the runs):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  benchmark\tns/op\tB/op\tallocs/op\tother")
	var names []string
	for n := range r.samples {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		var other []string
		units := map[string]bool{}
		for _, s := range r.samples[n] {
			for u := range s {
				units[u] = true
			}
		}
		var us []string
		for u := range units {
			if u != "ns/op" && u != "B/op" && u != "allocs/op" {
				us = append(us, u)
			}
		}
		slices.Sort(us)
		for _, u := range us {
			v, _ := r.value(n, u)
			other = append(other, fmt.Sprintf("%g %s", v, u))
		}
		ns, _ := r.ns(n)
		bop, _ := r.value(n, "B/op")
		al, _ := r.value(n, "allocs/op")
		fmt.Fprintf(tw, "  %s\t%s\t%.0f\t%.0f\t%s\n", n, format(ns, "ns"), bop, al, strings.Join(other, ", "))
	}
	for n, reason := range r.skipped {
		fmt.Fprintf(tw, "  %s\tskipped: %s\t\t\t\n", n, reason)
	}
	tw.Flush()
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func format(v float64, unit string) string {
	switch unit {
	case "ns":
		d := time.Duration(math.Round(v))
		switch {
		case d >= time.Second:
			return fmt.Sprintf("%.2fs", d.Seconds())
		case d >= time.Millisecond:
			return fmt.Sprintf("%.2fms", float64(d)/1e6)
		case d >= time.Microsecond:
			return fmt.Sprintf("%.1fµs", float64(d)/1e3)
		}
		return fmt.Sprintf("%dns", d)
	case "B":
		return fmt.Sprintf("%.1f B", v)
	}
	return fmt.Sprintf("%g", v)
}

var trafficPhases = []struct{ name, what string }{
	{"online-first", "comes online, first time (fetches 100 contacts' keys)"},
	{"online-again", "comes online again, nothing changed"},
	{"key-change", "one contact publishes a new key"},
	{"first-message", "first message to a new contact"},
}

func printTraffic(w io.Writer, r *results) {
	if reason, ok := r.skipped["BenchmarkTraffic"]; ok {
		fmt.Fprintf(w, "Key distribution on the wire: skipped: %s\n", reason)
		return
	}
	fmt.Fprintln(w, "Key distribution on the wire: an account with 100 contacts (mutual presence subscriptions,")
	fmt.Fprintln(w, "each with a published Ed25519/Cv25519 key), against a local Prosody, counted on the account's")
	fmt.Fprintln(w, "connection. wire: TCP bytes (TLS included); xml: the stanzas; key: the part that is key")
	fmt.Fprintln(w, "distribution (pubsub requests and answers, PEP notifications, the caps disco#info answer).")
	fmt.Fprintln(w, "round trips: pubsub requests, made one after the other.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layout\tphase\twire out\twire in\txml out\txml in\tkey out\tkey in\tround trips\tother IQs\tpushes\tpresences\ttime\t")
	for _, layout := range []string{"spec", "compact"} {
		for _, p := range trafficPhases {
			b := "BenchmarkTraffic/" + layout + "/" + p.name
			if _, ok := r.samples[b]; !ok {
				fmt.Fprintf(tw, "%s\t%s\tnot run\t\t\t\t\t\t\t\t\t\t\t\n", layout, p.name)
				continue
			}
			v := func(u string) string {
				x, _ := r.value(b, u)
				return strconv.FormatFloat(x, 'f', -1, 64)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%sms\t\n", layout, p.name,
				v("wireB-out"), v("wireB-in"), v("xmlB-out"), v("xmlB-in"), v("keyB-out"), v("keyB-in"),
				v("roundtrips"), v("otherIQs"), v("pushes"), v("presences"), v("ms"))
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, p := range trafficPhases {
		fmt.Fprintf(w, "  %-14s %s\n", p.name, p.what)
	}
	fmt.Fprintln(w)
	for _, layout := range []string{"spec", "compact"} {
		b := "BenchmarkTraffic/" + layout + "/too-large"
		v, ok := r.value(b, "refused")
		line := "not run"
		if ok {
			line = "MISS: not refused before sending"
			if v == 1 {
				line = "PASS: refused before sending"
			}
		}
		for _, l := range r.logs[b] {
			line += "\n    " + l
		}
		fmt.Fprintf(w, "stanza over 256 KiB (%s): %s\n", layout, line)
	}
	for _, layout := range []string{"spec", "compact"} {
		for _, l := range r.logs["BenchmarkTraffic/"+layout+"/setup"] {
			fmt.Fprintf(w, "%s: %s\n", layout, l)
		}
	}
}

// runSoak runs TestIntegrationDaemonStaysConnected with n messages on both
// servers and prints its result lines; its exit status is the test's.
func runSoak(root string, n int) int {
	cmd := exec.Command("go", "test", "-count=1", "-v", "-timeout", "90m", "-run", "^TestIntegrationDaemonStaysConnected$", "./cmd/ox")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "OX_SOAK_MESSAGES="+strconv.Itoa(n), "OX_REQUIRE_INTEGRATION=1")
	fmt.Fprintf(os.Stderr, "running the daemon soak with %d messages on Prosody and ejabberd ...\n", n)
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "messages across") || strings.HasPrefix(strings.TrimSpace(l), "---") || strings.Contains(l, "_test.go:") {
			fmt.Println(strings.TrimSpace(l))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: the soak failed:", err)
		return 1
	}
	return 0
}
