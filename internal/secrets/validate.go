package secrets

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/neuroscale-dev/neuroscale/internal/diag"
)

// Kinds of secret values; each has its own shape and length checks. They
// are the values of the kind field of a profile's or the config's secrets.
const (
	KindGitHubToken       = "github-token"
	KindOAuthClientID     = "oauth-client-id"
	KindOAuthClientSecret = "oauth-client-secret"
	KindOpaque            = "opaque"
)

// lengthRange is the inclusive range of lengths, in bytes, of a kind.
type lengthRange struct{ min, max int }

// lengthsOf returns the lengths a kind may have. GitHub announced in 2021
// that its tokens may grow up to 255 characters, so only the lower bound of
// a token is today's length.
func lengthsOf(kind string) lengthRange {
	switch kind {
	case KindGitHubToken:
		return lengthRange{40, 255}
	case KindOAuthClientID:
		return lengthRange{20, 20}
	case KindOAuthClientSecret:
		return lengthRange{40, 40}
	}
	return lengthRange{1, MaxValueBytes}
}

// knownKind maps an empty or unknown kind to opaque: config validation
// reports unknown kinds, and a value is then checked only for mistakes
// every kind shares.
func knownKind(kind string) string {
	switch kind {
	case KindGitHubToken, KindOAuthClientID, KindOAuthClientSecret:
		return kind
	}
	return KindOpaque
}

// Problem is one thing wrong with one secret: a diag.Diagnostic with ID
// "secret" whose Object is the secret's name and where its value came from
// ("GITHUB_TOKEN (from env GITHUB_TOKEN)"). It never holds the value.
type Problem = diag.Diagnostic

// nextStep is what to do about invalid secrets.
const nextStep = "fix each value where it comes from (the environment variable, file or prompt named above), or store one with `neuroscale secret set NAME`, which reads it from standard input; the README (section Secrets) shows where each secret is created"

// problem is a Problem of severity error with secret name from origin.
func problem(name string, origin Origin, reason, fix string) Problem {
	obj := name
	if origin.Kind != "" {
		obj += " (from " + origin.String() + ")"
	}
	return Problem{ID: "secret", Severity: diag.Error, Object: obj, Message: reason, Fix: fix}
}

// warning is a Problem of severity warning about secret name.
func warning(name, msg string) Problem {
	return Problem{ID: "secret", Severity: diag.Warning, Object: name, Message: msg}
}

// Invalid is the error for problems: every one at once, and what to do.
func Invalid(problems []Problem) error {
	return &diag.Failed{Check: "secrets", Diagnostics: problems, Next: nextStep}
}

// Check returns every reason the value is not acceptable as kind, or nil.
// The reasons describe the value (its length, which rule it breaks), and
// never contain it.
func Check(kind string, v Value) []string {
	kind = knownKind(kind)
	b := v.Reveal()
	if len(b) == 0 {
		return []string{"is empty"}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return []string{"is only whitespace"}
	}
	var reasons []string
	add := func(format string, args ...any) { reasons = append(reasons, fmt.Sprintf(format, args...)) }

	if r, _ := utf8.DecodeRune(b); unicode.IsSpace(r) {
		add("starts with %s: it would become part of the value", describeSpace(r))
	}
	if r, _ := utf8.DecodeLastRune(b); unicode.IsSpace(r) {
		add("ends with %s: it would become part of the value", describeSpace(r))
	}
	trimmed := bytes.TrimSpace(b)
	first, last := trimmed[0], trimmed[len(trimmed)-1]
	switch {
	case isQuote(first) && len(trimmed) > 1 && last == first:
		add("is wrapped in quotes: the quotes would become part of the value (write it without them)")
	case isQuote(first):
		add("starts with a quote character")
	case isQuote(last):
		add("ends with a quote character")
	}
	// Shape and length are judged on the value without the whitespace and
	// quotes reported above, so one mistake gives one message.
	core := trimmed
	if len(core) > 1 && isQuote(core[0]) && core[len(core)-1] == core[0] {
		core = core[1 : len(core)-1]
	}
	if ph := placeholderReasons(kind, core); len(ph) > 0 {
		// A placeholder is the whole story; its length and shape would
		// only add noise.
		return append(reasons, ph...)
	}

	lr := lengthsOf(kind)
	n := len(core)
	lengthOK := n >= lr.min && n <= lr.max
	if !lengthOK {
		if lr.min == lr.max {
			add("is %d characters long; a %s is %d", n, kind, lr.min)
		} else {
			add("is %d characters long; a %s is %d to %d", n, kind, lr.min, lr.max)
		}
	}
	if r := shapeReason(kind, core, lengthOK); r != "" {
		reasons = append(reasons, r)
	}
	return reasons
}

// Validate checks v as the secret name of kind from origin and returns
// every problem at once.
func Validate(name, kind string, origin Origin, v Value) []Problem {
	var out []Problem
	if !validKey(name) {
		out = append(out, problem(name, origin, "is not a valid Secret key", "use letters, digits, '-', '_' and '.'"))
	}
	for _, r := range Check(kind, v) {
		out = append(out, problem(name, origin, r, ""))
	}
	return out
}

// validKey is the API server's rule for Secret data keys.
func validKey(k string) bool {
	if k == "" || len(k) > 253 || k == "." || k == ".." {
		return false
	}
	return indexNotIn([]byte(k), func(c byte) bool { return isAlnum(c) || c == '-' || c == '_' || c == '.' }) < 0
}

func isQuote(c byte) bool { return c == '"' || c == '\'' || c == '`' }

func describeSpace(r rune) string {
	switch r {
	case ' ':
		return "a space"
	case '\t':
		return "a tab"
	case '\n':
		return "a newline"
	case '\r':
		return "a carriage return (a file saved with Windows line endings?)"
	}
	return "whitespace"
}

// placeholderWord is a word people leave in place of a value, and how a
// message describes it. Messages never quote the word: a value that is
// nothing but the word would otherwise be echoed.
type placeholderWord struct {
	word, reason string
}

// placeholderWords are found anywhere in a value, case-insensitively.
// They are long or contain a separator, so a random token holds one by
// chance with a probability below one in a million.
func placeholderWords() []placeholderWord {
	const (
		yours   = "looks like a placeholder asking for your own value"
		change  = "looks like a placeholder that asks to be changed"
		sample  = "looks like a sample value from documentation"
		standIn = "looks like a stand-in value"
	)
	return []placeholderWord{
		{"your_", yours}, {"your-", yours},
		{"changeme", change}, {"change_me", change}, {"change-me", change}, {"replace_me", change}, {"replace-me", change},
		{"example", sample},
		{"dummy", standIn}, {"placeholder", standIn},
	}
}

// placeholderShortWords count only as a word of their own (between
// non-alphanumerics or the ends): a random 36-character token contains
// "xxx" about once in a thousand tokens and "todo" once in thirty
// thousand, and must not be refused for it.
func placeholderShortWords() []placeholderWord {
	const note = "looks like a note left in place of the value"
	return []placeholderWord{{"todo", note}, {"fixme", note}, {"tbd", note}, {"xxx", xRun}}
}

const xRun = "looks like a placeholder made of x's"

// placeholderReasons finds the patterns people leave in place of a value:
// <...>, the words above, long runs of one character and, for generated
// kinds, too few distinct characters.
func placeholderReasons(kind string, b []byte) []string {
	var out []string
	lower := bytes.ToLower(b)
	add := func(reason string) {
		if !slices.Contains(out, reason) {
			out = append(out, reason)
		}
	}
	if i := bytes.IndexByte(b, '<'); i >= 0 && bytes.IndexByte(b[i:], '>') > 0 {
		add("looks like a placeholder in angle brackets: replace all of it with the real value")
	}
	for _, w := range placeholderWords() {
		if bytes.Contains(lower, []byte(w.word)) {
			add(w.reason)
		}
	}
	for _, w := range placeholderShortWords() {
		if containsWord(lower, w.word) {
			add(w.reason)
		}
	}
	if maxRun(lower, 'x') >= 5 {
		add(xRun)
	}
	_, body := splitPrefix(kind, b)
	switch {
	case kind == KindOpaque:
		if len(b) >= 2 && distinct(b) == 1 {
			out = append(out, "is one character repeated")
		}
	case len(body) > 0:
		run := 6
		if isHex(body) {
			// Hex has 16 symbols, so runs come 4x more often than in
			// alphanumerics; 8 keeps false alarms below one in a million.
			run = 8
		}
		if longestRun(body) >= run {
			out = append(out, fmt.Sprintf("has %d or more identical characters in a row: a generated %s does not", run, kind))
		} else if distinct(body) < min(len(body)/5, 12) {
			out = append(out, fmt.Sprintf("has too few distinct characters for a generated %s", kind))
		}
	}
	return out
}

// containsWord reports whether w occurs in b delimited by
// non-alphanumerics or the ends of b.
func containsWord(b []byte, w string) bool {
	for i := 0; i+len(w) <= len(b); i++ {
		j := bytes.Index(b[i:], []byte(w))
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(w)
		if (start == 0 || !isAlnum(b[start-1])) && (end == len(b) || !isAlnum(b[end])) {
			return true
		}
		i = start
	}
	return false
}

func maxRun(b []byte, c byte) int {
	best, cur := 0, 0
	for _, x := range b {
		if x == c {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

func longestRun(b []byte) int {
	best, cur := 0, 0
	for i := range b {
		if i > 0 && b[i] == b[i-1] {
			cur++
		} else {
			cur = 1
		}
		best = max(best, cur)
	}
	return best
}

func distinct(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return len(b) > 0
}

// tokenPrefixes are GitHub's token prefixes (GitHub changelog,
// 2021-03-31): personal access, OAuth access, app user-to-server, app
// server-to-server and refresh tokens, then fine-grained personal access
// tokens.
func tokenPrefixes() []string {
	return []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", finePATPrefix}
}

const finePATPrefix = "github_pat_"

// The shortest random part GitHub's tokens have after their prefix.
const (
	tokenBody   = 36
	finePATBody = 82
)

// GitHubTokenPattern finds GitHub tokens in text by the shapes the
// github-token kind accepts (the same prefixes and lengths), so the
// validate package's search for tokens written into values agrees with
// what a token is here.
var GitHubTokenPattern = regexp.MustCompile(fmt.Sprintf(`\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{%d,}\b|\b%s[A-Za-z0-9_]{%d,}\b`, tokenBody, finePATPrefix, finePATBody))

// splitPrefix splits a generated value into its known prefix and the
// random part the run and variety checks look at; body is nil for kinds
// or values without a known random part.
func splitPrefix(kind string, b []byte) (prefix string, body []byte) {
	s := string(b)
	switch kind {
	case KindGitHubToken:
		for _, p := range tokenPrefixes() {
			if strings.HasPrefix(s, p) {
				return p, b[len(p):]
			}
		}
		if isHex(b) {
			return "", b
		}
	case KindOAuthClientID:
		switch {
		case strings.HasPrefix(s, "Iv1."):
			return "Iv1.", b[4:]
		case len(b) == 20 && (strings.HasPrefix(s, "Ov") || strings.HasPrefix(s, "Iv")):
			return s[:4], b[4:]
		case isHex(b):
			return "", b
		}
	case KindOAuthClientSecret:
		if isHex(b) {
			return "", b
		}
	}
	return "", nil
}

// shapeReason checks the format of the known kinds. lengthOK says the
// overall length is already fine, so a short body is not reported twice.
//
// The rules are deliberately a little lenient where GitHub has said
// formats may grow:
//   - github-token: ghp_, gho_, ghu_, ghs_ or ghr_ followed by at least 36
//     of [A-Za-z0-9]; github_pat_ followed by at least 82 of [A-Za-z0-9_];
//     or a pre-2021 token of 40 lowercase hex digits.
//   - oauth-client-id: 20 characters: Ov23li… / Iv23… (two letters, two
//     digits, 16 alphanumerics), Iv1. and 16 hex digits, or 20 hex digits.
//   - oauth-client-secret: 40 lowercase hex digits.
func shapeReason(kind string, b []byte, lengthOK bool) string {
	s := string(b)
	switch kind {
	case KindGitHubToken:
		prefix, body := splitPrefix(kind, b)
		switch {
		case prefix == "" && isHex(b):
			if len(b) != 40 && lengthOK {
				return "is hexadecimal but not 40 digits, so it is neither an old-format token nor a current one"
			}
			return ""
		case prefix == "":
			if looksLikeOAuthSecret(b) || looksLikeOAuthID(b) {
				return "looks like a GitHub OAuth client ID or secret, not a token: create a personal access token (it starts with ghp_ or github_pat_)"
			}
			return "does not start with a GitHub token prefix (ghp_, gho_, ghu_, ghs_, ghr_ or github_pat_)"
		case prefix == finePATPrefix:
			if i := indexNotIn(body, isAlnumUnderscore); i >= 0 {
				return fmt.Sprintf("has a character other than A-Z, a-z, 0-9 or _ at position %d", len(prefix)+i+1)
			}
			if len(body) < finePATBody && lengthOK {
				return fmt.Sprintf("has %d characters after github_pat_; a fine-grained token has %d", len(body), finePATBody)
			}
		default:
			if i := indexNotIn(body, isAlnum); i >= 0 {
				return fmt.Sprintf("has a character other than A-Z, a-z or 0-9 at position %d", len(prefix)+i+1)
			}
			if len(body) < tokenBody && lengthOK {
				return fmt.Sprintf("has %d characters after %s; GitHub's tokens have %d", len(body), prefix, tokenBody)
			}
		}
	case KindOAuthClientID:
		if looksLikeOAuthID(b) {
			return ""
		}
		if strings.HasPrefix(s, "gh") && strings.Contains(s, "_") {
			return "looks like a GitHub token, not an OAuth client ID (the app's settings page shows the client ID)"
		}
		if looksLikeOAuthSecret(b) {
			return "has 40 hex digits: that is the client secret, not the client ID"
		}
		return "is not a GitHub OAuth client ID: expected 20 characters such as Ov23li…, Iv23…, Iv1. and 16 hex digits, or 20 hex digits"
	case KindOAuthClientSecret:
		if looksLikeOAuthSecret(b) {
			return ""
		}
		if looksLikeOAuthID(b) {
			return "looks like the client ID, not the client secret"
		}
		if len(b) == 40 && isHex(bytes.ToLower(b)) {
			return "has upper-case hex digits; GitHub's client secrets are lower-case"
		}
		return "is not a GitHub OAuth client secret: expected 40 hexadecimal digits"
	}
	return ""
}

func looksLikeOAuthSecret(b []byte) bool { return len(b) == 40 && isHex(b) }

func looksLikeOAuthID(b []byte) bool {
	if len(b) != 20 {
		return false
	}
	s := string(b)
	switch {
	case isHex(b):
		return true
	case strings.HasPrefix(s, "Iv1."):
		return isHex(b[4:])
	case (strings.HasPrefix(s, "Ov") || strings.HasPrefix(s, "Iv")) && isDigit(s[2]) && isDigit(s[3]):
		return indexNotIn(b[4:], isAlnum) < 0
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnumUnderscore(c byte) bool { return isAlnum(c) || c == '_' }

func indexNotIn(b []byte, ok func(byte) bool) int {
	for i, c := range b {
		if !ok(c) {
			return i
		}
	}
	return -1
}
