// Package seal encrypts the small secrets a coordinator keeps so that
// another coordinator process can resume a run (the submit-time ${VAR}
// values), with AES-256-GCM under an operator key: nothing secret is stored
// in plaintext.
package seal
