package pipeline

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Lookup returns the value of a ${VAR} variable and whether it is set.
type Lookup func(name string) (string, bool)

// MapLookup returns a Lookup over m, falling back to next (which may be
// nil) for names m lacks. The service uses it to put SubmitRun variables
// ahead of the coordinator's environment.
func MapLookup(m map[string]string, next Lookup) Lookup {
	return func(name string) (string, bool) {
		if v, ok := m[name]; ok {
			return v, true
		}
		if next != nil {
			return next(name)
		}
		return "", false
	}
}

// References returns the variable names s refers to with ${NAME}, in order,
// ignoring $${NAME} escapes and malformed references.
func References(s string) []string {
	var names []string
	_, _, _ = expand(s, func(name string) (string, bool) {
		names = append(names, name)
		return "", true
	})
	return names
}

// expand replaces ${NAME} in s with lookup(NAME) and $${ with ${. It returns
// the names that are not set, or an error for a malformed reference. With
// missing names the returned string is incomplete and must not be used.
func expand(s string, lookup Lookup) (string, []string, error) {
	if !strings.Contains(s, "${") {
		return s, nil, nil
	}
	var b strings.Builder
	var missing []string
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", nil, errors.New("unterminated ${ variable reference (write $${ for a literal ${)")
			}
			name := s[i+2 : i+2+end]
			if !validVarName(name) {
				return "", nil, errors.New("invalid variable name in ${...}: use letters, digits and _ (write $${ for a literal ${)")
			}
			if lookup == nil {
				missing = append(missing, name)
			} else if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				missing = append(missing, name)
			}
			i += 2 + end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), missing, nil
}

// isSingleRef reports whether s is exactly one ${NAME} reference.
func isSingleRef(s string) bool {
	return strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") &&
		strings.Count(s, "${") == 1 && validVarName(s[2:len(s)-1])
}

func validVarName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// AllowEnv returns a Lookup over env that serves only the names matching one
// of the patterns (path.Match globs such as "PG_*"; "*" serves every name).
// A remote coordinator resolves ${VAR} from the variables its client sent
// and, through AllowEnv, from the operator's allow-list (--env-allow) only:
// otherwise any caller could read the coordinator's own secrets back
// (${RAPIDBYTE_AUTH_TOKEN} in a field echoed by an error, or sent to a host
// it controls). No pattern serves nothing. Patterns are checked by
// CheckEnvAllow.
func AllowEnv(env Lookup, patterns []string) Lookup {
	return func(name string) (string, bool) {
		for _, p := range patterns {
			if ok, _ := path.Match(p, name); ok {
				return env(name)
			}
		}
		return "", false
	}
}

// CheckEnvAllow reports a malformed pattern of an --env-allow list.
func CheckEnvAllow(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil || p == "" || strings.Contains(p, "/") {
			return fmt.Errorf("env allow pattern %q: want a glob over variable names such as PG_*", p)
		}
	}
	return nil
}
