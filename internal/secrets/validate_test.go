package secrets

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Fixed random-looking bodies: valid shapes that trip no placeholder rule.
const (
	body36    = "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d"
	body82    = "IBXuDL7DxtpYlSXpfKtHF4vUCsM_ehGAkWvj7FAc9QeWJKY40uvSwMFLZDe1f8rESQedUStPKR0CsTy4Qw"
	hex40     = "0eb53f16947ccf25ec84d8dbc74254770f58904d"
	hex20     = "ba41ecccc3fc1626e53a"
	hex16     = "13043b026c48bbf3"
	alnum14   = "h2FDEEtfjgVvVq"
	refresh76 = "E1SkHbn88HxjSI6bWHtP3fS2qHx6kwXoIIXGvOoNZYW2mZp0zVZomHFwUbbYrEqmSM9wCZ7Uw9xf"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kind  string
		value string
		// want are substrings of the reasons, one per expected reason;
		// none means the value is accepted.
		want []string
	}{
		// Accepted GitHub tokens.
		{"classic PAT", KindGitHubToken, "ghp_" + body36, nil},
		{"OAuth token", KindGitHubToken, "gho_" + body36, nil},
		{"user-to-server", KindGitHubToken, "ghu_" + body36, nil},
		{"server-to-server", KindGitHubToken, "ghs_" + body36, nil},
		{"refresh token, longer", KindGitHubToken, "ghr_" + refresh76, nil},
		{"fine-grained PAT", KindGitHubToken, "github_pat_" + body82, nil},
		{"pre-2021 hex token", KindGitHubToken, hex40, nil},
		{"longer future token", KindGitHubToken, "ghp_" + body36 + body36, nil},
		// A random body may contain xxx or todo between letters.
		{"xxx inside random body", KindGitHubToken, "ghp_" + body36[:10] + "Xxx" + body36[13:], nil},
		{"todo inside random body", KindGitHubToken, "ghp_" + body36[:10] + "todo" + body36[14:], nil},

		// Emptiness and whitespace.
		{"empty", KindGitHubToken, "", []string{"is empty"}},
		{"only spaces", KindOpaque, "   ", []string{"only whitespace"}},
		{"only newline", KindOpaque, "\n\t", []string{"only whitespace"}},
		{"leading space", KindGitHubToken, " ghp_" + body36, []string{"starts with a space"}},
		{"trailing space", KindGitHubToken, "ghp_" + body36 + " ", []string{"ends with a space"}},
		{"trailing CR", KindGitHubToken, "ghp_" + body36 + "\r", []string{"carriage return"}},
		{"leading tab", KindOpaque, "\tsomething-secret", []string{"starts with a tab"}},
		{"trailing newline", KindOpaque, "something-secret\n", []string{"ends with a newline"}},

		// Quotes.
		{"double quotes", KindGitHubToken, `"ghp_` + body36 + `"`, []string{"wrapped in quotes"}},
		{"single quotes", KindOpaque, "'hunter2hunter2'", []string{"wrapped in quotes"}},
		{"backticks", KindOpaque, "`hunter2hunter2`", []string{"wrapped in quotes"}},
		{"leading quote", KindOpaque, `"hunter2hunter2`, []string{"starts with a quote"}},
		{"trailing quote", KindOpaque, `hunter2hunter2'`, []string{"ends with a quote"}},

		// Placeholders.
		{"seed placeholder", KindGitHubToken, "<YOUR_TOKEN_HERE>", []string{"angle brackets", "your own value"}},
		{"quoted unknown prefix", KindGitHubToken, "'token " + body36 + "'", []string{"wrapped in quotes", "does not start"}},
		{"angle brackets", KindOpaque, "token=<paste here>", []string{"angle brackets"}},
		{"YOUR_", KindOpaque, "YOUR_GITHUB_TOKEN", []string{"your own value"}},
		{"your-", KindOpaque, "your-client-secret", []string{"your own value"}},
		{"CHANGEME", KindOpaque, "CHANGEME", []string{"asks to be changed"}},
		{"changeme suffix", KindOpaque, "changeme123", []string{"asks to be changed"}},
		{"change_me", KindOpaque, "please_change_me", []string{"asks to be changed"}},
		{"replace-me", KindOpaque, "replace-me-now", []string{"asks to be changed"}},
		{"xxx alone", KindOpaque, "xxx", []string{"x's", "one character repeated"}},
		{"xxx word", KindOpaque, "token-XXX-1", []string{"x's"}},
		{"run of x in token", KindGitHubToken, "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", []string{"x's", "identical characters"}},
		{"TODO", KindOpaque, "TODO", []string{"note left"}},
		{"todo word", KindOpaque, "set-me: todo", []string{"note left"}},
		{"FIXME", KindOpaque, "FIXME later", []string{"note left"}},
		{"example", KindOpaque, "my-example-secret", []string{"sample value"}},
		{"example in token", KindGitHubToken, "ghp_example" + body36[7:], []string{"sample value"}},
		{"placeholder hides shape", KindGitHubToken, "TODO", []string{"note left"}},
		{"dummy", KindOpaque, "dummy-password", []string{"stand-in"}},
		{"placeholder", KindOpaque, "placeholder", []string{"stand-in"}},

		// Repeated characters.
		{"repeated token body", KindGitHubToken, "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", []string{"identical characters"}},
		{"repeated opaque", KindOpaque, "aaaaaaaa", []string{"one character repeated"}},
		{"few distinct", KindGitHubToken, "ghp_" + strings.Repeat("abc12", 7) + "a", []string{"too few distinct"}},
		{"hex run of 8", KindOAuthClientSecret, "00000000" + hex40[8:], []string{"identical characters"}},
		{"hex run of 7 is fine", KindOAuthClientSecret, "0000000" + hex40[7:], nil},

		// GitHub token shapes and lengths.
		{"unknown prefix", KindGitHubToken, "ghx_" + body36, []string{"does not start with a GitHub token prefix"}},
		{"bearer prefix", KindGitHubToken, "Bearer ghp_" + body36, []string{"does not start with a GitHub token prefix"}},
		{"one short", KindGitHubToken, "ghp_" + body36[:35], []string{"is 39 characters long; a github-token is 40 to 255"}},
		{"too long", KindGitHubToken, "ghp_" + strings.Repeat(body36, 8), []string{"is 292 characters long"}},
		{"dash in body", KindGitHubToken, "ghp_" + body36[:20] + "-" + body36[21:], []string{"character other than A-Z, a-z or 0-9 at position 25"}},
		{"short fine-grained", KindGitHubToken, "github_pat_" + body82[:70], []string{"has 70 characters after github_pat_"}},
		{"fine-grained bad char", KindGitHubToken, "github_pat_" + body82[:40] + "." + body82[41:], []string{"character other than A-Z, a-z, 0-9 or _ at position 52"}},
		{"hex, not 40", KindGitHubToken, hex40 + "a", []string{"hexadecimal but not 40 digits"}},
		{"client ID as token", KindGitHubToken, "Ov23li" + alnum14, []string{"is 20 characters long", "OAuth client ID or secret"}},

		// OAuth client IDs.
		{"OAuth app id", KindOAuthClientID, "Ov23li" + alnum14, nil},
		{"GitHub App id", KindOAuthClientID, "Iv23" + "f8doAlphaNumer1c", nil},
		{"legacy app id", KindOAuthClientID, "Iv1." + hex16, nil},
		{"legacy OAuth id", KindOAuthClientID, hex20, nil},
		{"secret as id", KindOAuthClientID, hex40, []string{"is 40 characters long", "that is the client secret"}},
		{"token as id", KindOAuthClientID, "ghp_" + body36, []string{"is 40 characters long", "looks like a GitHub token"}},
		{"id one short", KindOAuthClientID, "Ov23li" + alnum14[:13], []string{"is 19 characters long; a oauth-client-id is 20", "is not a GitHub OAuth client ID"}},
		{"id bad char", KindOAuthClientID, "Ov23li" + alnum14[:13] + "-", []string{"is not a GitHub OAuth client ID"}},

		// OAuth client secrets.
		{"client secret", KindOAuthClientSecret, hex40, nil},
		{"upper-case secret", KindOAuthClientSecret, strings.ToUpper(hex40), []string{"upper-case hex"}},
		{"id as secret", KindOAuthClientSecret, "Ov23li" + alnum14, []string{"is 20 characters long", "looks like the client ID"}},
		{"secret one short", KindOAuthClientSecret, hex40[:39], []string{"is 39 characters long; a oauth-client-secret is 40", "expected 40 hexadecimal digits"}},

		// Opaque values: only the shared rules.
		{"opaque password", KindOpaque, "correct horse battery staple", nil},
		{"opaque PEM", KindOpaque, "-----BEGIN KEY-----\nMIIBAAAAAAAAB3Nza\n-----END KEY-----", nil},
		{"empty kind is opaque", "", "s3cr3t-value", nil},
		{"unknown kind is opaque", "password", "s3cr3t-value", nil},
		{"opaque too long", KindOpaque, strings.Repeat("ab", MaxValueBytes/2+1), []string{"is 65538 characters long"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Check(tt.kind, NewValue([]byte(tt.value)))
			if len(tt.want) == 0 {
				if len(got) != 0 {
					t.Fatalf("Check(%s) refused a valid value: %q", tt.kind, got)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Check(%s) = %q, want %d reasons matching %q", tt.kind, got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("reason %d = %q, want it to contain %q", i, got[i], w)
				}
			}
			// The whole message, as the user sees it, never holds the value.
			ps := Validate("GITHUB_TOKEN", tt.kind, Origin{Kind: OriginEnv, Ref: "GITHUB_TOKEN"}, NewValue([]byte(tt.value)))
			msg := Invalid(ps).Error()
			assertNoValue(t, msg, tt.value)
			if !strings.Contains(msg, "secret GITHUB_TOKEN (from env GITHUB_TOKEN): ") {
				t.Errorf("message %q does not name the secret and its source", msg)
			}
		})
	}
}

// assertNoValue fails when text holds value or its trimmed form. Values
// of fewer than 3 non-space characters could match any text by chance
// and are not secrets anyone would set.
func assertNoValue(t *testing.T, text, value string) {
	t.Helper()
	for _, v := range []string{value, strings.TrimSpace(value), strings.Trim(value, "\"'` ")} {
		if len(strings.TrimSpace(v)) >= 3 && strings.Contains(text, v) {
			t.Fatalf("text contains the value:\n%s", text)
		}
	}
}

func TestValidateKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key string
		ok  bool
	}{
		{"GITHUB_TOKEN", true},
		{"db.password-1", true},
		{"has space", false},
		{"slash/key", false},
		{"", false},
		{"..", false},
	}
	for _, tt := range tests {
		ps := Validate(tt.key, KindOpaque, Origin{Kind: OriginStdin}, NewValue([]byte("s3cr3t-value")))
		if got := len(ps) == 0; got != tt.ok {
			t.Errorf("Validate(key %q): ok = %v, want %v (%v)", tt.key, got, tt.ok, ps)
		}
	}
}

// TestGeneratedValuesAccepted draws values the way GitHub generates them
// and checks that no rule refuses them: the placeholder and repetition
// rules must not cost a user a real token. The seed is fixed, so the test
// is deterministic; 20000 draws per kind put the refusal rate of each
// shape below about 1 in 10000.
func TestGeneratedValuesAccepted(t *testing.T) {
	t.Parallel()
	const (
		alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
		hex   = "0123456789abcdef"
	)
	rng := rand.New(rand.NewPCG(6, 7))
	draw := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	shapes := []struct {
		kind string
		gen  func() string
	}{
		{KindGitHubToken, func() string { return "ghp_" + draw(alnum, 36) }},
		{KindGitHubToken, func() string { return "ghs_" + draw(alnum, 36) }},
		{KindGitHubToken, func() string { return "github_pat_" + draw(alnum+"_", 82) }},
		{KindOAuthClientID, func() string { return "Ov23li" + draw(alnum, 14) }},
		{KindOAuthClientID, func() string { return draw(hex, 20) }},
		{KindOAuthClientSecret, func() string { return draw(hex, 40) }},
	}
	for _, s := range shapes {
		for range 20000 {
			v := s.gen()
			if got := Check(s.kind, NewValue([]byte(v))); len(got) > 0 {
				t.Fatalf("generated %s refused: %q", s.kind, got)
			}
		}
	}
}

// TestGitHubTokenPatternAgreesWithKind: the pattern package validate
// searches values with accepts exactly the prefixed tokens the
// github-token kind accepts.
func TestGitHubTokenPatternAgreesWithKind(t *testing.T) {
	for _, v := range []string{
		"ghp_" + strings.Repeat("a1", 18),
		"ghp_" + strings.Repeat("a", 30),
		"gho_" + strings.Repeat("Z", 36),
		"github_pat_" + strings.Repeat("a_", 41),
		"github_pat_" + strings.Repeat("a", 40),
		"xyz_" + strings.Repeat("a", 40),
	} {
		kind := shapeReason(KindGitHubToken, []byte(v), true) == ""
		if got := GitHubTokenPattern.MatchString(v); got != kind {
			t.Errorf("%.16s… (%d chars): pattern matches %v, kind accepts %v", v, len(v), got, kind)
		}
	}
}
