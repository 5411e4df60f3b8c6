package validate

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/neuroscale-dev/neuroscale/internal/secrets"
)

// tokenShapes match credentials by their well-known shapes; GitHub's are
// package secrets' (the github-token kind), so both agree on what a token is.
var tokenShapes = []*regexp.Regexp{
	secrets.GitHubTokenPattern,
	regexp.MustCompile(`\bAKIA[0-9A-Z]{16}\b`),
	regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{10,}`),
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`),
	regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.`),
}

// sensitiveKey matches keys whose value is a credential, and
// referenceKey those among them that only name where one is kept.
var (
	sensitiveKey = regexp.MustCompile(`(?i)(token|password|passwd|secret|apikey|api_key|privatekey|clientsecret)$`)
	referenceKey = regexp.MustCompile(`(?i)(^existing|(secret|password|token)(name|ref|key|keys)$)`)
)

// secretLiterals finds secret values written into the config file: they
// would end up in rendered files, in ConfigMaps and in git.
func (c *check) secretLiterals() {
	if p := c.r.Platform; p != nil {
		for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
			if p.Secrets[name].Value == "" {
				continue
			}
			c.add(Finding{ID: RuleSecretLiteral, Severity: Error, Object: "secrets." + name,
				Position: c.pos([]string{"secrets", name, "value"}),
				Message:  fmt.Sprintf("secret %s is written into the config file (value:); neuroscale never uses it", name),
				Fix:      fmt.Sprintf("remove value: and use env: %s or file: <path>, then rotate the credential", name)})
		}
	}
	if u, err := url.Parse(c.r.Sources.Mirror); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			c.add(Finding{ID: RuleSecretLiteral, Severity: Error, Object: "sources.mirror",
				Position: c.pos([]string{"sources", "mirror"}),
				Message:  "sources.mirror carries a password in its URL",
				Fix:      "serve the mirror without credentials in the URL, or use a file:// mirror"})
		}
	}
	for _, comp := range c.r.Components {
		c.walkSecrets(comp.Name, comp.Values, nil)
	}
}

func (c *check) walkSecrets(component string, v any, path []string) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			p := append(append([]string(nil), path...), k)
			if s, ok := x[k].(string); ok && sensitiveKey.MatchString(k) && !referenceKey.MatchString(k) && isLiteral(s) {
				c.literal(component, p, "a literal value under a credential key")
				continue
			}
			c.walkSecrets(component, x[k], p)
		}
	case []any:
		for i, e := range x {
			c.walkSecrets(component, e, append(append([]string(nil), path...), fmt.Sprintf("[%d]", i)))
		}
	case string:
		for _, re := range tokenShapes {
			if re.MatchString(x) {
				c.literal(component, path, "a string shaped like a token or key")
				return
			}
		}
	}
}

// isLiteral reports whether s is a value rather than a reference to one:
// ${VAR} (Backstage), {{ ... }} (Helm tpl) and empty strings are not.
func isLiteral(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && !envRef.MatchString(s) && !strings.Contains(s, "{{")
}

func (c *check) literal(component string, path []string, what string) {
	vp := strings.ReplaceAll(strings.Join(path, "."), ".[", "[")
	c.add(Finding{ID: RuleSecretLiteral, Severity: Error, Object: "components." + component + ".values", Path: vp,
		Position: c.valuesPos(component, path...),
		Message:  fmt.Sprintf("%s holds %s; it would be written into rendered files and ConfigMaps (the value is not shown)", vp, what),
		Fix:      "put the value in a secret source (secrets: in neuroscale.yaml, env: or file:) and refer to it as ${VAR}; rotate the credential"})
}
