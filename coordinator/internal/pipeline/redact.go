package pipeline

import (
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Redacted replaces secret values in redacted configs.
const Redacted = "***"

// DefaultSecretKeys are config key names that are always secret. A key also
// counts when it ends in "_" plus one of them, e.g. "client_secret" or
// "access_token". Matching ignores case and treats "-" like "_".
var DefaultSecretKeys = []string{"password", "secret", "token", "api_key", "private_key", "passphrase"}

// IsSecretKey reports whether a config key is secret: one of
// DefaultSecretKeys (or a key ending in "_" plus one of them), or one of
// extra, typically the connector manifest's secret_fields. Matching ignores
// case. An extra entry with dots ("auth.password") matches only the key at
// that dotted path; use SecretPaths for nested matching.
func IsSecretKey(key string, extra []string) bool {
	k := normKey(key)
	for _, s := range DefaultSecretKeys {
		if k == s || strings.HasSuffix(k, "_"+s) {
			return true
		}
	}
	for _, s := range extra {
		if !strings.Contains(s, ".") && normKey(s) == k {
			return true
		}
	}
	return false
}

// SecretPaths returns the dotted paths (list elements as "[i]") of the
// secret keys in config, sorted. Nested maps and lists are searched.
func SecretPaths(config map[string]any, extra []string) []string {
	var out []string
	walkSecrets(config, "", extra, func(path string) { out = append(out, path) })
	sort.Strings(out)
	return out
}

// Redact returns a deep copy of config in which the value of every secret
// key (see IsSecretKey and SecretPaths) is replaced by Redacted, whatever
// its type, and passwords embedded in URL strings ("postgres://u:pw@h") are
// masked too. config is not modified; nil gives nil.
func Redact(config map[string]any, extra []string) map[string]any {
	if config == nil {
		return nil
	}
	out, _ := redactValue(config, "", extra).(map[string]any)
	return out
}

func redactValue(v any, path string, extra []string) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			p := joinPath(path, k)
			if isSecretPath(k, p, extra) {
				out[k] = Redacted
				continue
			}
			out[k] = redactValue(val, p, extra)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, val := range v {
			out[i] = redactValue(val, path+"["+strconv.Itoa(i)+"]", extra)
		}
		return out
	case string:
		return redactURL(v)
	default:
		return v
	}
}

func walkSecrets(v any, path string, extra []string, fn func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			p := joinPath(path, k)
			if isSecretPath(k, p, extra) {
				fn(p)
				continue
			}
			walkSecrets(val, p, extra, fn)
		}
	case []any:
		for i, val := range v {
			walkSecrets(val, path+"["+strconv.Itoa(i)+"]", extra, fn)
		}
	}
}

func isSecretPath(key, path string, extra []string) bool {
	if IsSecretKey(key, extra) {
		return true
	}
	np := normKey(path)
	return slices.ContainsFunc(extra, func(s string) bool {
		return strings.Contains(s, ".") && normKey(s) == np
	})
}

// redactURL masks the password of a URL with user info; other strings are
// returned unchanged.
func redactURL(s string) string {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); !has {
		return s
	}
	// Rebuild by hand: url.UserPassword would percent-encode the mask.
	u.User = url.User(u.User.Username())
	full := u.String()
	prefix := u.Scheme + "://" + u.User.String()
	if !strings.HasPrefix(full, prefix) {
		return Redacted
	}
	return prefix + ":" + Redacted + full[len(prefix):]
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func normKey(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}
