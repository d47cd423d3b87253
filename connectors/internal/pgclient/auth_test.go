package pgclient

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/rapidbyte/rapidbyte/sdk/abi"
)

// The example exchange of RFC 7677, section 3 (user "user", password
// "pencil"). PostgreSQL's client sends an empty user name; the vector's
// client-first-message-bare is set directly.
func TestSCRAMRFC7677Vector(t *testing.T) {
	s := &scram{password: "pencil", clientNonce: "rOprNGfwEbeRWgbNEkqO", firstBare: "n=user,r=rOprNGfwEbeRWgbNEkqO"}
	final, err := s.clientFinal([]byte("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="; string(final) != want {
		t.Errorf("client-final-message\n got %s\nwant %s", final, want)
	}
	if err := s.verifyServer([]byte("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")); err != nil {
		t.Errorf("server signature refused: %v", err)
	}
	if err := s.verifyServer([]byte("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")); err == nil {
		t.Error("a wrong server signature was accepted")
	}
}

func TestSCRAMRefusesBadServerMessages(t *testing.T) {
	for name, msg := range map[string]string{
		"nonce not extended":  "r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"nonce equal":         "r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"no salt":             "r=abcdef,i=4096",
		"zero iterations":     "r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"mandatory extension": "m=x,r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"malformed":           "garbage",
	} {
		s := &scram{password: "pw", clientNonce: "abc", firstBare: "n=,r=abc"}
		if _, err := s.clientFinal([]byte(msg)); err == nil {
			t.Errorf("%s: accepted %q", name, msg)
		}
	}
	if _, err := newSCRAM([]string{"SCRAM-SHA-256-PLUS"}, "pw"); err == nil {
		t.Error("a server without SCRAM-SHA-256 was accepted")
	}
}

func TestSASLPrep(t *testing.T) {
	for in, want := range map[string]string{
		"plain ascii \x01":     "plain ascii \x01", // ASCII is never changed
		"a\u00a0b\u3000c":      "a b c",            // non-ASCII spaces
		"I\u00adX\u200dY":      "IXY",              // mapped to nothing
		"\ufb01\u2163":         "fiIV",             // NFKC
		"\u00e9\u0301":         "\u00e9\u0301",     // NFKC keeps a valid combination
		"bell\u00a0\x07":       "bell\u00a0\x07",   // prohibited: used as given
		"private\ue000\u00a0":  "private\ue000\u00a0",
		"bad utf-8 \xff\u00a0": "bad utf-8 \xff\u00a0",
	} {
		if got := saslPrep(in); got != want {
			t.Errorf("saslPrep(%q) = %q, want %q", in, got, want)
		}
	}
}

// A server that answers the client's SCRAM proof with AuthenticationOk,
// without the server-final-message that proves it knows the verifier, is
// refused.
func TestSCRAMRequiresTheServersProof(t *testing.T) {
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		be := pgproto3.NewBackend(server, server)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return
		}
		be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{scramMechanism}})
		if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeSASL) != nil {
			return
		}
		msg, err := be.Receive()
		first, ok := msg.(*pgproto3.SASLInitialResponse)
		if err != nil || !ok {
			return
		}
		nonce := strings.TrimPrefix(string(first.Data), "n,,n=,r=")
		be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte("r=" + nonce + "server,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")})
		if be.Flush() != nil || be.SetAuthType(pgproto3.AuthTypeSASLContinue) != nil {
			return
		}
		if _, err := be.Receive(); err != nil {
			return
		}
		be.Send(&pgproto3.AuthenticationOk{})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		_ = be.Flush()
		_, _ = be.Receive()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := Dialer{Dial: func(context.Context, string, string) (net.Conn, error) { return client, nil }}
	conn, err := Connect(ctx, Config{Host: "fake", User: "u", Password: "pw", Database: "db"}, d)
	if err == nil {
		_ = conn.Close(ctx)
		t.Fatal("connected to a server that never proved itself")
	}
	if c := Classify(err); c.Category != abi.CategoryAuth || c.Retryable {
		t.Errorf("classified %+v: %v", c, err)
	}
}

func TestMD5Password(t *testing.T) {
	// SELECT 'md5' || md5(convert_to(md5('secretalice'), 'UTF8') || '\x01020304'::bytea)
	if got, want := md5Password("alice", "secret", [4]byte{1, 2, 3, 4}), "md598a0412b9c31436fc53776e863350083"; got != want {
		t.Errorf("md5Password = %s, want %s", got, want)
	}
}

// TestPasswordAuthentication connects to a real server as roles that must
// authenticate with SCRAM-SHA-256, MD5 and a cleartext password, with the
// right password and a wrong one.
func TestPasswordAuthentication(t *testing.T) {
	port, ca := tlsCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := Config{Host: "localhost", Port: port, User: "postgres", Database: "postgres", SSLMode: SSLVerifyFull, CACert: ca}
	admin, err := Connect(ctx, base, Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	// The UTF-8 password holds a no-break space, a soft hyphen and a
	// ligature, which the server's SASLprep stores as " ", nothing and "fi".
	const utf8Password = "pw\u00a0sc\u00adram-\ufb01"
	if err := Exec(ctx, admin, `SET password_encryption = 'scram-sha-256'; CREATE ROLE rb_scram LOGIN PASSWORD 'pw-scram';
		CREATE ROLE rb_scram_utf8 LOGIN PASSWORD '`+utf8Password+`';
		SET password_encryption = 'md5'; CREATE ROLE rb_md5 LOGIN PASSWORD 'pw-md5'; CREATE ROLE rb_clear LOGIN PASSWORD 'pw-clear'`); err != nil {
		t.Fatal(err)
	}
	for role, password := range map[string]string{"rb_scram": "pw-scram", "rb_scram_utf8": utf8Password, "rb_md5": "pw-md5", "rb_clear": "pw-clear"} {
		t.Run(role, func(t *testing.T) {
			cfg := base
			cfg.User, cfg.Password = role, password
			conn, err := Connect(ctx, cfg, Dialer{})
			if err != nil {
				t.Fatalf("right password: %v", err)
			}
			rows, err := Query(ctx, conn, "SELECT current_user")
			if err != nil || string(rows[0][0]) != role {
				t.Errorf("current_user = %v, %v", rows, err)
			}
			_ = conn.Close(ctx)

			cfg.Password = "wrong-" + cfg.Password
			_, err = Connect(ctx, cfg, Dialer{})
			var pgErr *PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
				t.Fatalf("wrong password: %v, want SQLSTATE 28P01", err)
			}
			if c := Classify(err); c.Category != abi.CategoryAuth || c.Retryable {
				t.Errorf("wrong password classified %+v", c)
			}
			if strings.Contains(err.Error(), cfg.Password) {
				t.Errorf("error quotes the password: %v", err)
			}
		})
	}
}
