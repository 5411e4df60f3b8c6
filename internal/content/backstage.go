package content

import (
	"github.com/neuroscale-dev/neuroscale/internal/config"
)

// Health endpoints of Backstage's backend. Startup uses liveness: the
// backend answers it as soon as it listens, readiness only once plugins
// have started.
const (
	BackstageReadinessPath = "/.backstage/health/v1/readiness"
	BackstageLivenessPath  = "/.backstage/health/v1/liveness"
)

// The environment variables Backstage's app-config refers to. Backstage
// substitutes ${VAR} when it reads its config, so the values themselves
// only ever live in the Secret.
const (
	EnvGitHubToken        = "GITHUB_TOKEN"
	EnvAuthGitHubClientID = "AUTH_GITHUB_CLIENT_ID"
	EnvAuthGitHubSecret   = "AUTH_GITHUB_CLIENT_SECRET"
)

// templateVolume is the volume the Template ConfigMap is mounted from.
const templateVolume = "model-endpoint-template"

// TemplateFile is one file of the Template ConfigMap: its key and where it
// lies under TemplatesMountPath.
type TemplateFile struct{ Key, Path string }

// TemplateFiles lay the Template ConfigMap out as files. ConfigMap keys
// cannot hold "/", so the skeleton gets its own directory here, where
// fetch:template expects it relative to template.yaml (url: ./skeleton).
// verify's scaffolder dry-run sends the same layout.
var TemplateFiles = []TemplateFile{
	{Key: "template.yaml", Path: "template.yaml"},
	{Key: "inference-service.yaml", Path: "skeleton/inference-service.yaml"},
}

// backstageValues are the Backstage chart's values. Everything for the
// container goes under the chart's backstage: key; the seed platform's
// wrapper chart needed backstage.backstage.*, and values one level off
// were silently ignored, which is how its probes were lost.
func backstageValues(r *config.Resolved, in Inputs) map[string]any {
	b := r.Backstage
	prod := b.Auth == "github"

	resources := map[string]any{
		"requests": map[string]any{"cpu": "100m", "memory": "512Mi"},
	}
	if prod {
		resources["limits"] = map[string]any{"cpu": "1", "memory": "1Gi"}
	}

	items := make([]any, 0, len(TemplateFiles))
	for _, f := range TemplateFiles {
		items = append(items, map[string]any{"key": f.Key, "path": f.Path})
	}
	container := map[string]any{
		"image": map[string]any{
			"registry":   BackstageImageRegistry,
			"repository": BackstageImageRepository,
			"tag":        BackstageImageTag,
		},
		"appConfig":           backstageAppConfig(r),
		"extraEnvVarsSecrets": []any{BackstageSecret},
		"extraVolumes": []any{map[string]any{
			"name": templateVolume,
			"configMap": map[string]any{
				"name":  TemplatesConfigMap,
				"items": items,
			},
		}},
		// No subPath: a subPath mount never sees ConfigMap updates, and
		// the catalog re-reads the file location to pick them up.
		"extraVolumeMounts": []any{map[string]any{
			"name":      templateVolume,
			"mountPath": TemplatesMountPath,
			"readOnly":  true,
		}},
		"resources": resources,
	}
	if b.Replicas != nil {
		container["replicas"] = *b.Replicas
	}
	if p := b.Probes; p != nil {
		if p.Startup != nil {
			container["startupProbe"] = probeValues(p.Startup, BackstageLivenessPath)
		}
		if p.Readiness != nil {
			container["readinessProbe"] = probeValues(p.Readiness, BackstageReadinessPath)
		}
		if p.Liveness != nil {
			container["livenessProbe"] = probeValues(p.Liveness, BackstageLivenessPath)
		}
	}
	if ann := checksumAnnotations(in, BackstageNamespace+"/"+BackstageRelease); len(ann) > 0 {
		container["podAnnotations"] = ann
	}

	return map[string]any{
		"backstage":  container,
		"postgresql": postgresValues(b),
	}
}

// backstageAppConfig is Backstage's app-config, written by the chart into
// a ConfigMap and passed with --config after the image's own config.
func backstageAppConfig(r *config.Resolved) map[string]any {
	b := r.Backstage
	backend := map[string]any{
		"baseUrl": b.BaseURL,
		"listen":  map[string]any{"port": BackstagePort},
		// The browser opens BaseURL (the forward's local port), so the
		// backend must allow that origin or every API call is refused.
		"cors": map[string]any{
			"origin":      b.BaseURL,
			"methods":     []any{"GET", "HEAD", "PATCH", "POST", "PUT", "DELETE"},
			"credentials": true,
		},
	}
	// The chart replaces the image's arguments with --config for this
	// file alone, so the image's own app-config (and its database
	// settings) is not read: the database must be configured here.
	if postgresEnabled(r) {
		// The chart sets POSTGRES_* in the container when its bundled
		// PostgreSQL is on.
		backend["database"] = map[string]any{
			"client": "pg",
			"connection": map[string]any{
				"host":     "${POSTGRES_HOST}",
				"port":     "${POSTGRES_PORT}",
				"user":     "${POSTGRES_USER}",
				"password": "${POSTGRES_PASSWORD}",
			},
		}
	} else {
		// Without PostgreSQL the catalog lives in memory and is rebuilt
		// from its locations at every start.
		backend["database"] = map[string]any{"client": "better-sqlite3", "connection": ":memory:"}
	}

	var auth map[string]any
	if b.Auth == "github" {
		auth = map[string]any{
			"environment": "production",
			"providers": map[string]any{
				"github": map[string]any{
					"production": map[string]any{
						"clientId":     "${" + EnvAuthGitHubClientID + "}",
						"clientSecret": "${" + EnvAuthGitHubSecret + "}",
						"signIn": map[string]any{
							"resolvers": []any{map[string]any{
								"resolver": "usernameMatchingUserEntityName",
								// The platform ingests no User entities;
								// without this nobody could sign in.
								"dangerouslyAllowSignInWithoutUserInCatalog": true,
							}},
						},
					},
				},
			},
		}
	} else {
		// The image runs with NODE_ENV=production, where the guest
		// provider refuses to start unless allowed explicitly. The dev
		// auth policy lets the scaffolder's own calls through: without
		// it /api/scaffolder/v2/actions answers 401 and /create is blank.
		auth = map[string]any{
			"environment": "development",
			"providers": map[string]any{
				"guest": map[string]any{"dangerouslyAllowOutsideDevelopment": true},
			},
		}
		backend["auth"] = map[string]any{"dangerouslyDisableDefaultAuthPolicy": true}
	}

	return map[string]any{
		"app": map[string]any{
			// Backstage's frontend crashes with a blank page without it.
			"title":   b.Title,
			"baseUrl": b.BaseURL,
		},
		"backend": backend,
		"integrations": map[string]any{
			"github": []any{map[string]any{
				"host":  "github.com",
				"token": "${" + EnvGitHubToken + "}",
			}},
		},
		"auth": auth,
		"catalog": map[string]any{
			"locations": []any{map[string]any{
				"type":   "file",
				"target": TemplatesMountPath + "/template.yaml",
				// Without it the catalog drops the Template with a
				// NotAllowedError that only shows in the server log.
				"rules": []any{map[string]any{"allow": []any{"Template"}}},
			}},
		},
	}
}

// probeValues is one Kubernetes probe of the Backstage container.
func probeValues(p *config.Probe, path string) map[string]any {
	out := map[string]any{
		"httpGet": map[string]any{"path": path, "port": BackstagePort, "scheme": "HTTP"},
	}
	if p.InitialDelaySeconds != 0 {
		out["initialDelaySeconds"] = p.InitialDelaySeconds
	}
	if p.PeriodSeconds != 0 {
		out["periodSeconds"] = p.PeriodSeconds
	}
	if p.TimeoutSeconds != 0 {
		out["timeoutSeconds"] = p.TimeoutSeconds
	}
	if p.FailureThreshold != 0 {
		out["failureThreshold"] = p.FailureThreshold
	}
	return out
}

// postgresValues configure the chart's bundled Bitnami PostgreSQL.
func postgresValues(b config.BackstageSettings) map[string]any {
	persistence := true
	if b.Persistence != nil {
		persistence = *b.Persistence
	}
	return map[string]any{
		"auth": map[string]any{
			// The chart's default key (user-password) is not what the
			// subchart stores, so the second helm upgrade failed with
			// "PASSWORDS ERROR"; password is the key it does store.
			"secretKeys": map[string]any{"userPasswordKey": "password"},
		},
		"primary": map[string]any{
			"persistence": map[string]any{"enabled": persistence},
		},
		// Bitnami stopped serving these tags from docker.io/bitnami; the
		// same images live on under bitnamilegacy.
		"image":             map[string]any{"registry": "docker.io", "repository": "bitnamilegacy/postgresql"},
		"volumePermissions": map[string]any{"image": map[string]any{"registry": "docker.io", "repository": "bitnamilegacy/os-shell"}},
		"metrics":           map[string]any{"image": map[string]any{"registry": "docker.io", "repository": "bitnamilegacy/postgres-exporter"}},
	}
}

// postgresEnabled reports whether the bundled PostgreSQL will be
// installed: the chart's default is off, the profiles turn it on.
func postgresEnabled(r *config.Resolved) bool {
	c := r.Component(config.Backstage)
	if c == nil {
		return false
	}
	pg, _ := c.Values["postgresql"].(map[string]any)
	on, _ := pg["enabled"].(bool)
	return on
}

// checksumAnnotations returns the pod annotation that rolls workload when
// the Secret it reads changes.
func checksumAnnotations(in Inputs, workload string) map[string]any {
	sum, ok := in.SecretChecksums[workload]
	if !ok || sum == "" {
		return nil
	}
	return map[string]any{"neuroscale.dev/secret-checksum": sum}
}
