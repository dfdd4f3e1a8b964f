package unix

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/sondehq/sonde/pipeline/pipelinetest"
)

func TestScratch(t *testing.T) {
	root := os.Getenv("FIXROOT")
	a := DefaultArguments()
	fmt.Println("DEFAULT", a.Collectors)
	fmt.Println("KNOWN", KnownCollectors())
	fmt.Println("FLAGS", a.flags())
	a.ProcfsPath, a.SysfsPath, a.RootfsPath, a.UdevDataPath = root+"/proc", root+"/sys", root, root+"/udev/data"
	if os.Getenv("COLL") != "" {
		a.Collectors = strings.Fields(os.Getenv("COLL"))
	}
	a.Netdev.Netlink = false
	c, err := New(pipelinetest.Options(t, "x/y", pipelinetest.NewHost()), a)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	for {
		rec := httptest.NewRecorder()
		c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code == 200 {
			b, _ := io.ReadAll(rec.Body)
			os.WriteFile("/tmp/nefull/out.txt", b, 0o644)
			break
		}
	}
	cancel()
	fmt.Println(<-done)
}
