package file

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sondehq/sonde/internal/positions"
)

// The format itself (header, damaged lines, atomic saves) is tested in internal/positions.

var sample = []savedPosition{
	newSavedPosition("/var/log/pods/ns_pod_uid/c/0.log", fileID{dev: 2049, ino: 1234}, 0xdeadbeefcafe, 512, 98765, time.Unix(1700000000, 0)),
	{Path: "/var/log/pods/ns_pod_uid/c/0.log.20240305-070809", Device: 2049, Inode: 99, Fingerprint: "0"},
	newSavedPosition("odd \"name\"\n", fileID{dev: 1<<64 - 1, ino: 1<<64 - 1}, 1<<64-1, maxFingerprintLength, 1<<63-1, time.Unix(0, 0)),
}

// written is sample as the previous version (components/loki/source/file/positions) wrote
// it: an upgrade reads it whole, and writes the same bytes again.
const written = "{\"version\":1}\n" +
	"{\"path\":\"/var/log/pods/ns_pod_uid/c/0.log\",\"dev\":2049,\"ino\":1234,\"fp\":\"deadbeefcafe\",\"fp_len\":512,\"offset\":98765,\"seen\":1700000000}\n" +
	"{\"path\":\"/var/log/pods/ns_pod_uid/c/0.log.20240305-070809\",\"dev\":2049,\"ino\":99,\"fp\":\"0\",\"fp_len\":0,\"offset\":0}\n" +
	"{\"path\":\"odd \\\"name\\\"\\n\",\"dev\":18446744073709551615,\"ino\":18446744073709551615,\"fp\":\"ffffffffffffffff\",\"fp_len\":1048576,\"offset\":9223372036854775807}\n"

func TestPositionsFromPreviousVersion(t *testing.T) {
	got, bad, err := positions.Parse[savedPosition]([]byte(written))
	require.NoError(t, err)
	require.Zero(t, bad)
	require.Equal(t, sample, got)
	require.Equal(t, uint64(0xdeadbeefcafe), got[0].fingerprint())
	require.Equal(t, written, string(positions.Encode(sample)))

	tb := newTable(got)
	p, known := tb.claim(fileID{dev: 2049, ino: 1234}, "/x", func(fpLen int, fp uint64) bool {
		return fpLen == 512 && fp == 0xdeadbeefcafe
	})
	require.True(t, known)
	require.Equal(t, int64(98765), p.State().Committed, "resumed where it was acknowledged")
}

func TestSavedPositionValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
	}{
		{"bad fingerprint", `{"dev":1,"ino":2,"fp":"xyz","fp_len":1,"offset":3}`},
		{"no fingerprint", `{"dev":1,"ino":2,"fp_len":1,"offset":3}`},
		{"negative offset", `{"dev":1,"ino":2,"fp":"a","fp_len":1,"offset":-3}`},
		{"negative fingerprint length", `{"dev":1,"ino":2,"fp":"a","fp_len":-1,"offset":3}`},
		{"huge fingerprint length", `{"dev":1,"ino":2,"fp":"a","fp_len":99999999,"offset":3}`},
		{"wrong types", `{"dev":"1","ino":2,"fp":"a","fp_len":1,"offset":3}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, bad, err := positions.Parse[savedPosition]([]byte(tc.line + "\n"))
			require.NoError(t, err)
			require.Empty(t, got)
			require.Equal(t, 1, bad)
		})
	}
}
