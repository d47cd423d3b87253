package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Config is the connector's config object as JSON (secrets already
// resolved by the host). Never log it.
type Config struct {
	raw json.RawMessage
}

// NewConfig wraps a raw JSON config (used by tests and harnesses).
func NewConfig(raw json.RawMessage) Config { return Config{raw: raw} }

// Raw returns the config JSON.
func (c Config) Raw() json.RawMessage { return c.raw }

// Decode strictly decodes the config into v (a pointer to the author's
// struct): unknown keys, wrong types and trailing data are rejected with a
// ConfigError naming the field (code "unknown_field" or "invalid_field").
// An absent or null config decodes as {}.
func (c Config) Decode(v any) error {
	raw := bytes.TrimSpace(c.raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the config object")
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "(root)"
		}
		return ConfigError(fmt.Errorf("config field %q: expected %s, got JSON %s", field, typeErr.Type, typeErr.Value),
			WithCode("invalid_field"))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return ConfigError(fmt.Errorf("config has unknown field %s", name), WithCode("unknown_field"))
	default:
		return ConfigError(fmt.Errorf("decode config: %w", err), WithCode("invalid_config"))
	}
}
