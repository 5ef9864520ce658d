package cti

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// QueueDesk is what a queue shows on the agent's screen besides the call: the CRM
// lookup and link, the script and a knowledge-base link.
type QueueDesk struct {
	Queue string
	// CRMURL is a lookup webhook with placeholders {caller}, {dialled}, {queue},
	// {call_id} (URL-escaped), e.g. https://crm.example/lookup?phone={caller}. Its
	// JSON object answer is merged into the screen-pop as "crm".
	CRMURL     string
	CRMMethod  string        // GET (default) or POST (the call as a JSON body)
	CRMTimeout time.Duration // default 500 ms
	// CRMLink is a templated link the agent can open (same placeholders).
	CRMLink string
	Script  string // script or canned responses shown with the call
	KBLink  string
	// Dispositions are the wrap-up outcomes of the queue (empty: the console's own list).
	Dispositions []QueueDisposition
}

const defaultCRMTimeout = 500 * time.Millisecond

func (q QueueDesk) validate(i int) error {
	for key, tmpl := range map[string]string{"crm_url": q.CRMURL, "crm_link": q.CRMLink, "kb_link": q.KBLink} {
		if tmpl == "" {
			continue
		}
		u, err := url.Parse(expand(tmpl, map[string]string{"caller": "1", "dialled": "1", "queue": "q", "call_id": "c"}))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: calls.desks[%d].%s: %q: must be an http(s) URL template", ErrInvalidConfig, i, key, tmpl)
		}
	}
	switch q.CRMMethod {
	case "", http.MethodGet, http.MethodPost:
	default:
		return fmt.Errorf("%w: calls.desks[%d].crm_method: %q: must be GET or POST", ErrInvalidConfig, i, q.CRMMethod)
	}
	if q.CRMTimeout < 0 || q.CRMTimeout > 10*time.Second {
		return fmt.Errorf("%w: calls.desks[%d].crm_timeout: %q: must be between 0 (default 500ms) and 10s", ErrInvalidConfig, i, q.CRMTimeout)
	}
	return validateQueueDispositions(i, q.Dispositions)
}

// expand fills {name} placeholders with URL-escaped values.
func expand(tmpl string, vals map[string]string) string {
	pairs := make([]string, 0, 2*len(vals))
	for k, v := range vals {
		pairs = append(pairs, "{"+k+"}", url.QueryEscape(v))
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}

// crmResult is the answer of a CRM lookup, delivered to the call's actor.
type crmResult struct {
	fields map[string]any
	err    error
}

const maxCRMBody = 1 << 20

// lookupCRM calls the webhook. It is bounded by the queue's timeout.
func lookupCRM(ctx context.Context, client *http.Client, q QueueDesk, vals map[string]string) crmResult {
	timeout := q.CRMTimeout
	if timeout == 0 {
		timeout = defaultCRMTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	method := q.CRMMethod
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if method == http.MethodPost {
		b, err := json.Marshal(vals)
		if err != nil {
			return crmResult{err: err}
		}
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, expand(q.CRMURL, vals), body)
	if err != nil {
		return crmResult{err: err}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return crmResult{err: fmt.Errorf("crm lookup: %w", err)}
	}
	defer resp.Body.Close() //nolint:errcheck // read-only
	if resp.StatusCode == http.StatusNotFound {
		return crmResult{fields: map[string]any{}}
	}
	if resp.StatusCode/100 != 2 {
		return crmResult{err: fmt.Errorf("crm lookup: HTTP %d", resp.StatusCode)}
	}
	var fields map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxCRMBody)).Decode(&fields); err != nil {
		return crmResult{err: fmt.Errorf("crm lookup: answer is not a JSON object: %w", err)}
	}
	return crmResult{fields: fields}
}
