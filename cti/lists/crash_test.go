package lists

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/store"
)

const (
	envChild = "CTID_LISTS_TEST_CHILD" // "done" or "midway"
	envPath  = "CTID_LISTS_TEST_PATH"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(envChild); role != "" {
		os.Exit(importChild(role, os.Getenv(envPath)))
	}
	os.Exit(m.Run())
}

// importChild imports 3,000 rows and says "imported" once Import returned (done), or
// says "writing" from inside the import after its first chunk (midway); then waits to
// be killed.
func importChild(role, path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := store.DefaultConfig()
	cfg.Path = path
	st, err := store.Open(ctx, cfg, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	ic := DefaultConfig()
	ic.DefaultRegion, ic.BatchSize = "GB", 500
	progress := func(Progress) {}
	if role == "midway" {
		progress = func(p Progress) {
			if p.Imported > 0 {
				fmt.Println("writing")
				<-ctx.Done() // killed here, mid-import
			}
		}
	}
	if _, err := Import(ctx, st, store.ImportSpec{CampaignID: "c1", ListName: role}, &genCSV{n: 3000}, ic, Mapping{}, progress); err != nil {
		fmt.Fprintln(os.Stderr, "child import:", err)
		return 2
	}
	fmt.Println("imported")
	<-ctx.Done()
	return 3
}

func runChild(t *testing.T, role, path, want string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChild+"="+role, envPath+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, readErr := bufio.NewReader(stdout).ReadString('\n')
	killErr := cmd.Process.Kill() // SIGKILL the moment after
	waitErr := cmd.Wait()
	if readErr != nil || strings.TrimSpace(line) != want || killErr != nil {
		t.Fatalf("child %s: line %q (%v), kill %v, wait %v, stderr: %s", role, line, readErr, killErr, waitErr, stderr.String())
	}
}

// TestImportSurvivesKill9: an import is kept in full once Import has returned, and an
// import killed half-way leaves nothing visible.
func TestImportSurvivesKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctid.db")
	cfg := store.DefaultConfig()
	cfg.Path = path
	st, err := store.Open(testCtx(t), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateCampaign(testCtx(t), store.Campaign{ID: "c1", Name: "c1", State: "draft", Config: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	runChild(t, "done", path, "imported")
	runChild(t, "midway", path, "writing")

	st, err = store.Open(testCtx(t), cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	lists, err := st.ContactLists(testCtx(t), "c1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, l := range lists {
		got[l.Name] = l.Contacts
	}
	if got["done"] != 3000 || got["midway"] != 0 {
		t.Fatalf("after kill -9: %v (want done 3000, midway 0)", got)
	}
	imports, err := st.ListImports(testCtx(t), "c1")
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, im := range imports {
		status[im.ListName] = im.Status
	}
	if status["done"] != store.ImportComplete || status["midway"] != store.ImportRunning {
		t.Fatalf("import records after kill -9: %v", status)
	}
}
