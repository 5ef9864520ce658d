package desktop

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrOpenAPIMismatch is wrapped by CheckOpenAPI's errors.
var ErrOpenAPIMismatch = errors.New("routes and openapi.yaml disagree")

type openAPIOp struct {
	Owner   string `yaml:"x-owner"`
	MinRole string `yaml:"x-min-role"`
}

// CheckOpenAPI compares registered routes with an OpenAPI 3 document: every route
// must be documented with its x-min-role, and every documented operation (of owner,
// when owner is not "") must be registered. Call it from the test of the fully wired
// server: CheckOpenAPI(spec, srv.RouteTable(), "").
func CheckOpenAPI(spec []byte, routes []RouteInfo, owner string) error {
	var doc struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]openAPIOp `yaml:"paths"`
	}
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return fmt.Errorf("openapi.yaml: %w", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		return fmt.Errorf("openapi.yaml: openapi %q, want 3.x", doc.OpenAPI)
	}
	var problems []string
	documented := map[string]openAPIOp{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			switch m {
			case "get", "post", "put", "patch", "delete":
				documented[strings.ToUpper(m)+" "+p] = op
			}
		}
	}
	registered := map[string]bool{}
	for _, r := range routes {
		k := r.Method + " " + r.Path
		registered[k] = true
		op, ok := documented[k]
		if !ok {
			problems = append(problems, "registered but not documented: "+k)
			continue
		}
		if op.MinRole != r.MinRole.String() {
			problems = append(problems, fmt.Sprintf("%s: x-min-role %q, registered with %s", k, op.MinRole, r.MinRole))
		}
	}
	for k, op := range documented {
		if (owner == "" || op.Owner == owner) && !registered[k] {
			problems = append(problems, "documented but not registered: "+k)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%w:\n  %s", ErrOpenAPIMismatch, strings.Join(problems, "\n  "))
	}
	return nil
}
