package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/rapidbyte/rapidbyte/coordinator/internal/pipeline"
	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// problemAt positions a problem at a config path (keys from the config's
// root), e.g. Pipeline.SourceConfigProblem.
type problemAt func(path []string, format string, args ...any) pipeline.Problem

var printer = message.NewPrinter(language.English)

// ConfigProblems validates cfg, a resolved connector config, against the
// JSON Schema of manifest m (no problems when m has none). A value under
// one of m's secret_fields is never quoted: its problem only names the
// rule it breaks. An invalid schema is the connector's fault and comes
// back as an error, not a problem.
func ConfigProblems(m abi.Manifest, cfg map[string]any, at problemAt) ([]pipeline.Problem, error) {
	if len(bytes.TrimSpace(m.ConfigSchema)) == 0 {
		return nil, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.ConfigSchema))
	if err != nil {
		return nil, fmt.Errorf("connector %s: config_schema: %w", m.ID, err)
	}
	c := jsonschema.NewCompiler()
	const url = "manifest:///config_schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("connector %s: config_schema: %w", m.ID, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("connector %s: config_schema: %w", m.ID, err)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("connector %s: encode config: %w", m.ID, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("connector %s: decode config: %w", m.ID, err)
	}
	verr := sch.Validate(inst)
	if verr == nil {
		return nil, nil
	}
	ve, ok := verr.(*jsonschema.ValidationError)
	if !ok {
		return nil, fmt.Errorf("connector %s: validate config: %w", m.ID, verr)
	}
	var out []pipeline.Problem
	seen := map[string]bool{}
	for _, leaf := range leaves(ve, nil) {
		msg := leaf.ErrorKind.LocalizedString(printer)
		if isSecret(m, leaf.InstanceLocation) {
			msg = "invalid value for a secret field (" + strings.Join(leaf.ErrorKind.KeywordPath(), "/") + " rule; value not shown)"
		}
		msg = fmt.Sprintf("%s (config_schema of %s)", msg, m.ID)
		key := strings.Join(leaf.InstanceLocation, "\x00") + "\x00" + msg
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, at(leaf.InstanceLocation, "%s", msg))
	}
	return out, nil
}

// leaves returns the errors of ve's tree that have no causes.
func leaves(ve *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(out, ve)
	}
	for _, c := range ve.Causes {
		out = leaves(c, out)
	}
	return out
}

// isSecret reports whether path is, or is under, one of m's secret fields
// (or a key that is conventionally secret).
func isSecret(m abi.Manifest, path []string) bool {
	for _, k := range path {
		lk := strings.ToLower(k)
		if slices.Contains(m.SecretFields, k) || strings.Contains(lk, "password") || strings.Contains(lk, "secret") || strings.Contains(lk, "token") {
			return true
		}
	}
	return false
}
