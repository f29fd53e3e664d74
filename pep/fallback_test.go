package pep

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fakeService is a PEP service with configurable quirks, for the fallback
// paths Prosody never takes.
type fakeService struct {
	nodes          map[string]Options  // node -> configuration
	items          map[string][]string // node -> item ids
	publishOptions bool                // supports publish-options at all
	strict         bool                // refuses fields it does not know (not-acceptable)
	configurable   bool                // owner configure works (else forbidden)
	models         []string            // access models offered
	// onlyOptions, when set, are the only fields taken as publish-options;
	// any other is refused with resource-constraint, as ejabberd 23.01 does.
	onlyOptions map[string]bool
}

var fakeKnown = map[string]bool{AccessModel: true, MaxItems: true, DeliverPayloads: true, PersistItems: true}

func newFake() *fakeService {
	return &fakeService{
		nodes: map[string]Options{}, items: map[string][]string{},
		publishOptions: true, configurable: true, models: []string{"open", "presence", "whitelist"},
	}
}

func se(cond, app string) error { return &StanzaError{Condition: cond, App: app, Type: "cancel"} }

func (f *fakeService) check(opts Options) error {
	for k, v := range opts {
		if !fakeKnown[k] {
			if f.strict {
				return se("not-acceptable", "")
			}
			continue
		}
		if k == AccessModel && !strings.Contains(" "+strings.Join(f.models, " ")+" ", " "+v+" ") {
			return se("not-acceptable", "")
		}
	}
	return nil
}

func (f *fakeService) newNode(node string, opts Options) {
	cfg := Options{AccessModel: "presence", MaxItems: "1", PersistItems: "1"}
	for k, v := range opts {
		if fakeKnown[k] {
			cfg[k] = v
		}
	}
	f.nodes[node] = cfg
}

func (f *fakeService) publish(_ context.Context, node, itemID string, opts Options) (string, error) {
	if len(opts) > 0 {
		for k := range opts {
			if f.onlyOptions != nil && !f.onlyOptions[k] {
				return "", &StanzaError{Condition: "resource-constraint", Type: "wait",
					Text: "Unknown field '" + k + "' of type 'http://jabber.org/protocol/pubsub#publish-options'"}
			}
		}
		if !f.publishOptions {
			return "", &StanzaError{Condition: "feature-not-implemented", App: "unsupported", Feature: "publish-options"}
		}
		if err := f.check(opts); err != nil {
			return "", err
		}
		if cfg, ok := f.nodes[node]; ok {
			for k, v := range opts {
				if fakeKnown[k] && !sameValue(cfg[k], v) {
					return "", &StanzaError{Condition: "conflict", App: "precondition-not-met", Type: "cancel"}
				}
			}
		}
	}
	if _, ok := f.nodes[node]; !ok {
		f.newNode(node, opts)
	}
	if itemID == "" {
		itemID = "server-id"
	}
	f.items[node] = append(f.items[node], itemID)
	return itemID, nil
}

func (f *fakeService) create(_ context.Context, node string, opts Options) error {
	if _, ok := f.nodes[node]; ok {
		return se("conflict", "")
	}
	if len(opts) > 0 && !f.configurable {
		return se("not-acceptable", "")
	}
	if err := f.check(opts); err != nil {
		return err
	}
	f.newNode(node, opts)
	return nil
}

func (f *fakeService) configure(_ context.Context, node string, opts Options) error {
	if !f.configurable {
		return se("forbidden", "")
	}
	cfg, ok := f.nodes[node]
	if !ok {
		return se("item-not-found", "")
	}
	if err := f.check(opts); err != nil {
		return err
	}
	for k, v := range opts {
		if fakeKnown[k] {
			cfg[k] = v
		}
	}
	return nil
}

func (f *fakeService) config(_ context.Context, node string) (Options, error) {
	if !f.configurable {
		return nil, se("forbidden", "")
	}
	cfg, ok := f.nodes[node]
	if !ok {
		return nil, se("item-not-found", "")
	}
	return cfg.clone(), nil
}

func TestPublishFallback(t *testing.T) {
	ctx := context.Background()
	open := Options{AccessModel: "open"}
	for _, c := range []struct {
		name     string
		setup    func(*fakeService)
		opts     Options
		err      error
		fallback []string // substrings of PublishResult.Fallback; nil: none
		applied  Options
		// node: fields the node's configuration must have afterwards (what
		// the item was published under); nil: not checked.
		node Options
	}{
		{
			name: "accepted", opts: Options{AccessModel: "open", MaxItems: "1"},
			applied: Options{AccessModel: "open", MaxItems: "1"}, node: Options{AccessModel: "open", MaxItems: "1"},
		},
		{
			name: "no options", opts: nil, node: Options{AccessModel: "presence"},
		},
		{
			name:  "precondition: configure and publish again",
			setup: func(f *fakeService) { f.newNode("n", nil) }, opts: open,
			fallback: []string{"configured the node;", "published without publish-options", "precondition-not-met"},
			applied:  open, node: open,
		},
		{
			name:  "strict server, unknown option, new node: create with the access model, leave the option out",
			setup: func(f *fakeService) { f.strict = true }, opts: Options{AccessModel: "open", "pubsub#ox-bogus": "1"},
			fallback: []string{"configured the node without pubsub#ox-bogus (refused)", "not-acceptable"},
			applied:  open, node: open,
		},
		{
			name:  "ejabberd: only access_model and persist_items as publish-options, the rest by node configuration",
			setup: func(f *fakeService) { f.onlyOptions = map[string]bool{AccessModel: true, PersistItems: true} },
			opts:  Options{AccessModel: "open", MaxItems: "max"},
			fallback: []string{"configured the node;", "published without publish-options",
				"resource-constraint", "Unknown field 'pubsub#max_items'"},
			applied: Options{AccessModel: "open", MaxItems: "max"}, node: Options{AccessModel: "open", MaxItems: "max"},
		},
		{
			name: "ejabberd, existing node: whitelist kept, max_items set",
			setup: func(f *fakeService) {
				f.onlyOptions = map[string]bool{AccessModel: true, PersistItems: true}
				f.newNode("n", Options{AccessModel: "presence"})
			},
			opts:     Options{AccessModel: "whitelist", MaxItems: "1"},
			fallback: []string{"configured the node;", "resource-constraint"},
			applied:  Options{AccessModel: "whitelist", MaxItems: "1"}, node: Options{AccessModel: "whitelist", MaxItems: "1"},
		},
		{
			name:  "no publish-options support, configurable",
			setup: func(f *fakeService) { f.publishOptions = false; f.newNode("n", nil) }, opts: Options{AccessModel: "open", MaxItems: "5"},
			fallback: []string{"configured the node;", "feature-not-implemented/unsupported publish-options"},
			applied:  Options{AccessModel: "open", MaxItems: "5"}, node: Options{AccessModel: "open", MaxItems: "5"},
		},
		{
			name:  "not configurable, strict: the access model alone as publish-option",
			setup: func(f *fakeService) { f.strict = true; f.configurable = false }, opts: Options{AccessModel: "open", "pubsub#ox-bogus": "1"},
			fallback: []string{"could not configure the node (forbidden", "published with only pubsub#access_model"},
			applied:  open, node: open,
		},
		{
			name:  "nothing works, open asked: publish plain, the node keeps the server's default (less open)",
			setup: func(f *fakeService) { f.publishOptions = false; f.configurable = false }, opts: Options{AccessModel: "open", MaxItems: "1"},
			fallback: []string{"could not configure the node", "published without publish-options"},
			applied:  nil, node: Options{AccessModel: "presence"},
		},
		{
			name:  "whitelist refused: nothing published",
			setup: func(f *fakeService) { f.models = []string{"open", "presence"} }, opts: Options{AccessModel: "whitelist", MaxItems: "1"},
			err: ErrAccessModel,
		},
		{
			name: "whitelist refused on ejabberd too: nothing published",
			setup: func(f *fakeService) {
				f.models = []string{"open", "presence"}
				f.onlyOptions = map[string]bool{AccessModel: true}
			},
			opts: Options{AccessModel: "whitelist", MaxItems: "1"},
			err:  ErrAccessModel,
		},
		{
			name: "whitelist, nothing configurable: refused even if the node may be whitelist already, unreadable",
			setup: func(f *fakeService) {
				f.newNode("n", Options{AccessModel: "whitelist"})
				f.publishOptions = false
				f.configurable = false
			},
			opts: Options{AccessModel: "whitelist"}, err: ErrAccessModel,
		},
		{
			name: "whitelist, publish-options unsupported, node whitelist already, config readable",
			setup: func(f *fakeService) {
				f.newNode("n", Options{AccessModel: "whitelist"})
				f.publishOptions = false
			},
			opts:     Options{AccessModel: "whitelist"},
			fallback: []string{"configured the node;"}, applied: Options{AccessModel: "whitelist"},
			node: Options{AccessModel: "whitelist"},
		},
		{
			name:  "other errors are not a refusal",
			setup: func(f *fakeService) { f.nodes["n"] = Options{}; f.publishOptions = false; f.models = nil },
			opts:  open, err: ErrForbidden,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			if c.setup != nil {
				c.setup(f)
			}
			if c.err == ErrForbidden {
				// A fake whose publish is refused for access reasons.
				res, err := publishFallback(ctx, forbidding{f}, "n", "i", c.opts)
				if !errors.Is(err, ErrForbidden) {
					t.Fatalf("%+v, %v", res, err)
				}
				return
			}
			before := len(f.items["n"])
			res, err := publishFallback(ctx, f, "n", "i", c.opts)
			for k, v := range c.node {
				if !sameValue(f.nodes["n"][k], v) {
					t.Errorf("node configuration %v, want %s=%s", f.nodes["n"], k, v)
				}
			}
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("%+v, %v; want %v", res, err, c.err)
				}
				if !strings.HasPrefix(err.Error(), "pep: ") {
					t.Errorf("error %q", err)
				}
				if len(f.items["n"]) != before {
					t.Fatalf("published anyway: %v", f.items["n"])
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.ItemID != "i" || len(f.items["n"]) != before+1 {
				t.Fatalf("result %+v, items %v", res, f.items["n"])
			}
			if c.fallback == nil && res.Fallback != "" || c.fallback != nil && res.Fallback == "" {
				t.Fatalf("fallback %q", res.Fallback)
			}
			for _, want := range c.fallback {
				if !strings.Contains(res.Fallback, want) {
					t.Errorf("fallback %q lacks %q", res.Fallback, want)
				}
			}
			if len(res.Applied) != len(c.applied) {
				t.Fatalf("applied %v, want %v", res.Applied, c.applied)
			}
			for k, v := range c.applied {
				if res.Applied[k] != v {
					t.Fatalf("applied %v, want %v", res.Applied, c.applied)
				}
			}
			t.Logf("fallback: %s", res.Fallback)
		})
	}
}

// forbidding refuses every publish with forbidden.
type forbidding struct{ *fakeService }

func (forbidding) publish(context.Context, string, string, Options) (string, error) {
	return "", se("forbidden", "")
}
