package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sondehq/sonde/exporters/otelcol/oteltest"
	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

// Each SASL mechanism authenticates against a cluster that requires it; with a wrong
// password nothing is written. (kfake closes the connection on a failed authentication, so
// the client sees it as a broker it cannot reach, retried like one.)
func TestSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			kc := cluster(t, 1, kfake.EnableSASL(), kfake.Superuser(mech, "sonde", "s3cret"))
			c, _ := run(t, kc.ListenAddrs(), func(a *Arguments) {
				a.Auth.SASL = &SASL{Mechanism: mech, Username: "sonde", Password: config.Secret("s3cret")}
			})
			td := oteltest.Traces(1, 2, nil)
			require.NoError(t, c.Traces().ConsumeTraces(context.Background(), td))
			var auth kgo.Opt
			switch mech {
			case "PLAIN":
				auth = kgo.SASL(plain.Auth{User: "sonde", Pass: "s3cret"}.AsMechanism())
			case "SCRAM-SHA-256":
				auth = kgo.SASL(scram.Auth{User: "sonde", Pass: "s3cret"}.AsSha256Mechanism())
			default:
				auth = kgo.SASL(scram.Auth{User: "sonde", Pass: "s3cret"}.AsSha512Mechanism())
			}
			got := consume(t, kc.ListenAddrs(), "otlp_spans", 1, auth)
			requireSameTraces(t, td, decodeTraces(t, "otlp_proto", got.records[0].Value))

			bad, reg := run(t, kc.ListenAddrs(), func(a *Arguments) {
				a.Auth.SASL = &SASL{Mechanism: mech, Username: "sonde", Password: config.Secret("wrong")}
				a.RetryOnFailure.Enabled = false
				a.Timeout = model.Duration(time.Second)
			})
			require.Error(t, bad.Traces().ConsumeTraces(context.Background(), oteltest.Traces(2, 2, nil)))
			require.Equal(t, 1.0, pipelinetest.MetricSum(t, reg, "sonde_otelcol_exporter_kafka_produce_failures_total", "topic", "otlp_spans"))
			require.Zero(t, pipelinetest.MetricSum(t, reg, "sonde_otelcol_exporter_kafka_messages_total"))
		})
	}
}

// With tls.enabled and the cluster's CA, the exporter speaks TLS; without the CA it cannot.
func TestTLS(t *testing.T) {
	caFile, serverCfg := selfSigned(t)
	kc := cluster(t, 1, kfake.TLS(serverCfg))
	c, _ := run(t, kc.ListenAddrs(), func(a *Arguments) {
		a.TLS = TLS{Enabled: true, CAFile: caFile}
	})
	ld := oteltest.Logs(3, nil)
	require.NoError(t, c.Logs().ConsumeLogs(context.Background(), ld))
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(caFile)
	require.NoError(t, err)
	pool.AppendCertsFromPEM(pem)
	got := consume(t, kc.ListenAddrs(), "otlp_logs", 1, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	requireSameLogs(t, ld, decodeLogs(t, "otlp_proto", got.records[0].Value))

	untrusted, reg := run(t, kc.ListenAddrs(), func(a *Arguments) {
		a.TLS = TLS{Enabled: true} // the system roots do not know the test CA
		a.RetryOnFailure.Enabled = false
		a.Timeout = model.Duration(time.Second)
	})
	require.Error(t, untrusted.Logs().ConsumeLogs(context.Background(), oteltest.Logs(1, nil)))
	require.Zero(t, pipelinetest.MetricSum(t, reg, "sonde_otelcol_exporter_kafka_messages_total"))
}

// selfSigned writes a self-signed CA certificate for 127.0.0.1 and returns its file and a
// server TLS configuration that uses it.
func selfSigned(t *testing.T) (string, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(caFile, certPEM, 0o600))
	return caFile, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}
