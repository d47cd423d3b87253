package abi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Roles, sync modes and write modes as they appear in Manifest (lower-case;
// the JSON form uses the protojson enum names, see Manifest).
const (
	RoleSource      = "source"
	RoleDestination = "destination"

	SyncFullRefresh = "full_refresh"
	SyncIncremental = "incremental"
	SyncCDC         = "cdc"

	WriteAppend  = "append"
	WriteReplace = "replace"
	WriteUpsert  = "upsert"
)

// Permissions mirrors rapidbyte.v1.Permissions.
type Permissions struct {
	// AllowedHosts are host or host:port patterns the connector may dial,
	// besides the hosts in its config. "*" allows every host.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// EnvVars are the host environment variables the guest may read.
	EnvVars []string `json:"env_vars,omitempty"`
}

// Manifest mirrors rapidbyte.v1.ConnectorManifest. Roles, sync modes and
// write modes are spelt everywhere a user sees them (manifest.json, the
// pipeline YAML, CLI output, Go) with the lower-case short names
// ("source", "full_refresh", "incremental", "upsert": RoleSource,
// SyncFullRefresh, ...), and manifest.json holds config_schema as an
// inline JSON object. Unmarshal also accepts the protojson form of older
// manifests: enum names ("ROLE_SOURCE", "SYNC_MODE_INCREMENTAL",
// "WRITE_MODE_UPSERT") and config_schema as a JSON string. MarshalJSON
// writes that protojson form, which is what rbpack embeds in the module's
// rapidbyte.manifest section (the proto's own JSON encoding).
type Manifest struct {
	ID           string          `json:"id"`
	Version      string          `json:"version"`
	Description  string          `json:"description,omitempty"`
	Roles        []string        `json:"roles"`
	SyncModes    []string        `json:"sync_modes,omitempty"`
	WriteModes   []string        `json:"write_modes,omitempty"`
	ConfigSchema json.RawMessage `json:"config_schema,omitempty"`
	Permissions  Permissions     `json:"permissions"`
	ABIVersion   uint32          `json:"abi_version"`
	Digest       string          `json:"digest,omitempty"`
	SizeBytes    uint64          `json:"size_bytes,omitempty"`
	SecretFields []string        `json:"secret_fields,omitempty"`
}

type manifestJSON struct {
	ID           string          `json:"id"`
	Version      string          `json:"version"`
	Description  string          `json:"description,omitempty"`
	Roles        []string        `json:"roles,omitempty"`
	SyncModes    []string        `json:"sync_modes,omitempty"`
	WriteModes   []string        `json:"write_modes,omitempty"`
	ConfigSchema json.RawMessage `json:"config_schema,omitempty"`
	Permissions  *Permissions    `json:"permissions,omitempty"`
	ABIVersion   uint32          `json:"abi_version,omitempty"`
	Digest       string          `json:"digest,omitempty"`
	SizeBytes    uint64          `json:"size_bytes,omitempty,string"`
	SecretFields []string        `json:"secret_fields,omitempty"`
}

var enumPrefixes = map[string]string{"roles": "ROLE_", "sync_modes": "SYNC_MODE_", "write_modes": "WRITE_MODE_"}

func toEnum(prefix string, vals []string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = prefix + strings.ToUpper(v)
	}
	return out
}

func fromEnum(prefix string, vals []string) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.ToLower(strings.TrimPrefix(v, prefix))
	}
	return out
}

// MarshalJSON encodes m as protojson (enum names, config_schema as a string).
func (m Manifest) MarshalJSON() ([]byte, error) {
	j := manifestJSON{
		ID: m.ID, Version: m.Version, Description: m.Description,
		Roles:        toEnum(enumPrefixes["roles"], m.Roles),
		SyncModes:    toEnum(enumPrefixes["sync_modes"], m.SyncModes),
		WriteModes:   toEnum(enumPrefixes["write_modes"], m.WriteModes),
		ABIVersion:   m.ABIVersion,
		Digest:       m.Digest,
		SizeBytes:    m.SizeBytes,
		SecretFields: m.SecretFields,
	}
	if len(m.Permissions.AllowedHosts) > 0 || len(m.Permissions.EnvVars) > 0 {
		p := m.Permissions
		j.Permissions = &p
	}
	if len(m.ConfigSchema) > 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, m.ConfigSchema); err != nil {
			return nil, fmt.Errorf("config_schema: %w", err)
		}
		s, err := json.Marshal(compact.String())
		if err != nil {
			return nil, err
		}
		j.ConfigSchema = s
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the protojson form, rejecting unknown fields.
func (m *Manifest) UnmarshalJSON(b []byte) error {
	var j manifestJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		// size_bytes may also be a plain number.
		var alt struct {
			manifestJSON
			SizeBytes uint64 `json:"size_bytes"`
		}
		dec2 := json.NewDecoder(bytes.NewReader(b))
		dec2.DisallowUnknownFields()
		if err2 := dec2.Decode(&alt); err2 != nil {
			return err
		}
		j = alt.manifestJSON
		j.SizeBytes = alt.SizeBytes
	}
	*m = Manifest{
		ID: j.ID, Version: j.Version, Description: j.Description,
		Roles:        fromEnum(enumPrefixes["roles"], j.Roles),
		SyncModes:    fromEnum(enumPrefixes["sync_modes"], j.SyncModes),
		WriteModes:   fromEnum(enumPrefixes["write_modes"], j.WriteModes),
		ABIVersion:   j.ABIVersion,
		Digest:       j.Digest,
		SizeBytes:    j.SizeBytes,
		SecretFields: j.SecretFields,
	}
	if j.Permissions != nil {
		m.Permissions = *j.Permissions
	}
	if cs := bytes.TrimSpace(j.ConfigSchema); len(cs) > 0 && !bytes.Equal(cs, []byte("null")) {
		if cs[0] == '"' {
			var s string
			if err := json.Unmarshal(cs, &s); err != nil {
				return fmt.Errorf("config_schema: %w", err)
			}
			cs = []byte(s)
		}
		if !json.Valid(cs) {
			return errors.New("config_schema is not valid JSON")
		}
		m.ConfigSchema = append(json.RawMessage(nil), cs...)
	}
	return nil
}

// HasRole reports whether the manifest lists role (RoleSource or
// RoleDestination).
func (m *Manifest) HasRole(role string) bool {
	for _, r := range m.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// Validate checks the manifest's required fields and enum values, listing
// every problem.
func (m *Manifest) Validate() error {
	var errs []error
	if m.ID == "" {
		errs = append(errs, errors.New("id is required"))
	}
	if m.Version == "" {
		errs = append(errs, errors.New("version is required"))
	}
	if len(m.Roles) == 0 {
		errs = append(errs, errors.New("roles must list source and/or destination"))
	}
	check := func(field string, vals []string, allowed ...string) {
		for _, v := range vals {
			ok := false
			for _, a := range allowed {
				ok = ok || v == a
			}
			if !ok {
				errs = append(errs, fmt.Errorf("%s: unknown value %q", field, v))
			}
		}
	}
	check("roles", m.Roles, RoleSource, RoleDestination)
	check("sync_modes", m.SyncModes, SyncFullRefresh, SyncIncremental, SyncCDC)
	check("write_modes", m.WriteModes, WriteAppend, WriteReplace, WriteUpsert)
	if m.HasRole(RoleSource) && len(m.SyncModes) == 0 {
		errs = append(errs, errors.New("sync_modes is required for a source"))
	}
	if m.HasRole(RoleDestination) && len(m.WriteModes) == 0 {
		errs = append(errs, errors.New("write_modes is required for a destination"))
	}
	if m.ABIVersion == 0 {
		errs = append(errs, errors.New("abi_version is required"))
	}
	if len(m.ConfigSchema) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(m.ConfigSchema, &obj); err != nil {
			errs = append(errs, fmt.Errorf("config_schema must be a JSON object: %v", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid manifest: %w", err)
	}
	return nil
}
