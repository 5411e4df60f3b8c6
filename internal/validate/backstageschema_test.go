package validate

import (
	"strings"
	"testing"
)

func TestBackstageSchemaErrors(t *testing.T) {
	t.Parallel()
	base := func() map[string]any {
		return map[string]any{
			"app":     map[string]any{"title": "T", "baseUrl": "http://localhost:7010"},
			"backend": map[string]any{"baseUrl": "http://localhost:7010", "listen": map[string]any{"port": 7007}, "database": map[string]any{"client": "pg", "connection": map[string]any{"host": "${POSTGRES_HOST}", "port": "${POSTGRES_PORT}"}}},
			"auth":    map[string]any{"providers": map[string]any{"guest": nil}},
		}
	}
	tests := []struct {
		name   string
		mutate func(map[string]any)
		want   string // "" means no error
	}{
		{"valid, env references and a null kept out", func(map[string]any) {}, ""},
		{"no app.baseUrl", func(c map[string]any) { delete(c["app"].(map[string]any), "baseUrl") }, "/app: missing property 'baseUrl'"},
		{"unknown database client", func(c map[string]any) {
			c["backend"].(map[string]any)["database"].(map[string]any)["client"] = "mongo"
		}, "/backend/database/client"},
		{"app.title is optional in Backstage's own schema", func(c map[string]any) { delete(c["app"].(map[string]any), "title") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base()
			tt.mutate(cfg)
			errs, err := BackstageSchemaErrors(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(errs, "\n")
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("errors:\n%s\nwant %q", got, tt.want)
			}
		})
	}
}
