package secrets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sort"

	"github.com/neuroscale-dev/neuroscale/internal/config"
	"github.com/neuroscale-dev/neuroscale/internal/content"
)

// Target is the Secret the values are stored in.
type Target struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String is namespace/name.
func (t Target) String() string { return t.Namespace + "/" + t.Name }

// DefaultTarget is Backstage's Secret, under the seed platform's name so
// its runbook commands keep working.
func DefaultTarget() Target {
	return Target{Namespace: content.BackstageNamespace, Name: content.BackstageSecret}
}

// Entry is one secret with its value.
type Entry struct {
	Name string `json:"name"`
	// Kind selects the checks the value passed (see Check).
	Kind   string `json:"kind,omitempty"`
	Origin Origin `json:"origin"`
	// Value redacts itself wherever it is printed or marshalled.
	Value Value `json:"value"`
	// Consumers are the Deployments ("namespace/name") that read it as
	// environment variables, and so must restart when it changes.
	Consumers []string `json:"consumers,omitempty"`
}

// Set is the secrets to store, sorted by name, and where they go.
type Set struct {
	Target Target `json:"target"`
	// Readers are the workloads that read the whole Secret (envFrom):
	// the consumers of keys the Secret holds that the config does not
	// declare.
	Readers []string `json:"readers,omitempty"`
	Entries []Entry  `json:"entries"`
}

// Get returns the named entry.
func (s *Set) Get(name string) (Entry, bool) {
	for _, e := range s.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// Names lists the entries' names in order.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.Entries))
	for _, e := range s.Entries {
		out = append(out, e.Name)
	}
	return out
}

// Consumers lists every consumer of any entry, sorted.
func (s *Set) Consumers() []string {
	var out []string
	for _, e := range s.Entries {
		for _, c := range e.Consumers {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return out
}

// put adds or replaces an entry, keeping the order.
func (s *Set) put(e Entry) {
	for i := range s.Entries {
		if s.Entries[i].Name == e.Name {
			s.Entries[i] = e
			return
		}
	}
	s.Entries = append(s.Entries, e)
	sort.Slice(s.Entries, func(i, j int) bool { return s.Entries[i].Name < s.Entries[j].Name })
}

// Options are what Resolve reads besides the configuration.
type Options struct {
	// LookupEnv reads an environment variable; the command layer passes
	// the environment it was started with.
	LookupEnv func(string) (string, bool)
	// Terminal asks for missing values; nil when standard input is not a
	// terminal. Required secrets without a value are asked for only then.
	Terminal Terminal
	// PromptOut is where the questions are written (standard error).
	PromptOut io.Writer
	// Stored names the keys the cluster Secret already holds: a secret
	// missing here but stored there is kept, so it is neither a warning
	// nor an error (see Stored).
	Stored []string
	// NoPrompt reports secrets whose source is prompt as StateAsk instead
	// of asking (`secret check`).
	NoPrompt bool
	// Target overrides DefaultTarget (tests).
	Target *Target
	Log    *slog.Logger
}

// State is where one secret stands after reading its source.
type State string

// States of a secret.
const (
	// StateOK: read and valid.
	StateOK State = "ok"
	// StateMissing: no value and not required.
	StateMissing State = "missing"
	// StateStored: no value here, but the cluster Secret holds one.
	StateStored State = "stored"
	// StateAsk: to be asked for on the terminal (Options.NoPrompt).
	StateAsk State = "ask"
	// StateInvalid: unreadable, required but missing, or failing a check.
	StateInvalid State = "invalid"
)

// Status is one secret's state: what `secret check` shows. It holds the
// value's length, never the value.
type Status struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind,omitempty"`
	Required bool      `json:"required"`
	Origin   Origin    `json:"origin"`
	State    State     `json:"state"`
	Length   int       `json:"length,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	// Why the platform needs it (from the profile).
	Why string `json:"why,omitempty"`

	entry *Entry
}

// Statuses reads every secret r declares from its source and checks it,
// one Status per secret in name order. The error is only for a canceled
// ctx: problems with values are in the statuses.
func Statuses(ctx context.Context, r *config.Resolved, opts Options) ([]Status, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if opts.PromptOut == nil {
		opts.PromptOut = io.Discard
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	readers := defaultConsumers(r)
	out := make([]Status, 0, len(r.Secrets))
	for _, rs := range r.Secrets {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st := Status{Name: rs.Name, Kind: knownKind(rs.Source.Kind), Required: rs.Require.Required, Why: rs.Require.Why}
		v, origin, bad := read(rs, opts)
		st.Origin = origin
		switch {
		case bad != nil:
			st.State, st.Problems = StateInvalid, []Problem{*bad}
		case v.IsZero() && opts.NoPrompt && rs.Source.Prompt:
			st.State = StateAsk
		case v.IsZero() && slices.Contains(opts.Stored, rs.Name):
			st.State = StateStored
			log.Debug("secret kept from the cluster", "secret", rs.Name)
		case v.IsZero() && rs.Require.Required:
			envName := envToSet(rs)
			st.State, st.Problems = StateInvalid, []Problem{problem(rs.Name, origin,
				"is required and not set"+because(rs.Require.Why),
				fmt.Sprintf("export %s, or run `neuroscale secret set %s` with the value on standard input", envName, rs.Name))}
		case v.IsZero():
			st.State = StateMissing
		default:
			st.Length = v.Len()
			if ps := Validate(rs.Name, rs.Source.Kind, origin, v); len(ps) > 0 {
				st.State, st.Problems = StateInvalid, ps
				break
			}
			st.State = StateOK
			consumers := rs.Require.Consumers
			if len(consumers) == 0 {
				consumers = readers
			}
			log.Debug("secret read", "secret", rs.Name, "from", origin.String(), "length", v.Len())
			st.entry = &Entry{Name: rs.Name, Kind: rs.Source.Kind, Origin: origin, Value: v, Consumers: slices.Clone(consumers)}
		}
		out = append(out, st)
	}
	return out, nil
}

// Resolve reads every secret r declares from its source and checks it.
// It returns every problem at once in a *diag.Failed (Invalid), and a warning for
// each optional secret that is not set, saying what will not work without
// it (the profile's why). No value is in any message.
func Resolve(ctx context.Context, r *config.Resolved, opts Options) (*Set, []Problem, error) {
	sts, err := Statuses(ctx, r, opts)
	if err != nil {
		return nil, nil, err
	}
	set := &Set{Target: DefaultTarget(), Readers: defaultConsumers(r)}
	if opts.Target != nil {
		set.Target = *opts.Target
	}
	var problems []Problem
	var warnings []Problem
	for _, st := range sts {
		problems = append(problems, st.Problems...)
		if st.State == StateMissing {
			warnings = append(warnings, warning(st.Name, fmt.Sprintf(
				"not set (%s)%s; export %s or run `neuroscale secret set %s`", st.Origin, because(st.Why), st.Origin.Ref, st.Name)))
		}
		if st.entry != nil {
			set.put(*st.entry)
		}
	}
	if len(problems) > 0 {
		return nil, warnings, Invalid(problems)
	}
	return set, warnings, nil
}

// read gets one secret's value from its source: the file, else the
// environment variable, else the terminal when the source says prompt or
// the secret is required and a terminal is there. A zero Value with no
// problem means "not set".
func read(rs config.ResolvedSecret, opts Options) (Value, Origin, *Problem) {
	src := rs.Source
	fail := func(o Origin, reason, fix string) (Value, Origin, *Problem) {
		p := problem(rs.Name, o, reason, fix)
		return Value{}, o, &p
	}
	if src.File != "" {
		o := Origin{Kind: OriginFile, Ref: src.File}
		v, err := ReadFile(src.File)
		if err != nil {
			return fail(o, "cannot be read: "+describeReadError(err), "")
		}
		if v.IsZero() {
			return fail(o, "is empty", "write the value into the file")
		}
		return v, o, nil
	}
	origin := Origin{Kind: OriginEnv, Ref: envToSet(rs)}
	if src.Env != "" {
		origin.Ref = src.Env
		// An empty variable counts as unset: CI systems export unset
		// secrets as empty strings.
		if s, ok := opts.LookupEnv(src.Env); ok && s != "" {
			return NewValue([]byte(s)), origin, nil
		}
	}
	// A required secret is asked for only when the cluster does not
	// already hold it: re-running up must not ask every time.
	if !src.Prompt && (!rs.Require.Required || slices.Contains(opts.Stored, rs.Name)) {
		return Value{}, origin, nil
	}
	if opts.Terminal == nil || opts.NoPrompt {
		if src.Prompt && !opts.NoPrompt {
			return fail(Origin{Kind: OriginPrompt}, "is to be asked for on the terminal, but standard input is not a terminal",
				fmt.Sprintf("set the environment variable %s, or pipe the value into `neuroscale secret set %s`", envToSet(rs), rs.Name))
		}
		return Value{}, origin, nil
	}
	o := Origin{Kind: OriginPrompt}
	v, err := Prompt(opts.Terminal, opts.PromptOut, rs.Name, rs.Require.Why)
	if err != nil {
		return fail(o, "could not be read: "+err.Error(), "")
	}
	if v.IsZero() {
		return fail(o, "is empty", "")
	}
	return v, o, nil
}

// envToSet is the variable to name when asking the user to set a secret.
func envToSet(rs config.ResolvedSecret) string {
	switch {
	case rs.Source.Env != "":
		return rs.Source.Env
	case rs.Require.Env != "":
		return rs.Require.Env
	}
	return rs.Name
}

func because(why string) string {
	if why == "" {
		return ""
	}
	return ": " + why
}

// describeReadError keeps the reason of a file error (not found,
// permission denied) without repeating the path the origin already names.
func describeReadError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// defaultConsumers are the workloads that read the Secret at all: a
// secret the user adds goes into the same Secret, which its consumers read
// whole (envFrom), so they consume it too.
func defaultConsumers(r *config.Resolved) []string {
	var out []string
	for _, rs := range r.Secrets {
		for _, c := range rs.Require.Consumers {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 {
		out = []string{content.BackstageNamespace + "/" + content.BackstageRelease}
	}
	sort.Strings(out)
	return out
}
