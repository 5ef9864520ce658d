package telephony

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// maxRecordingErrorBytes bounds how much of an error answer is read.
const maxRecordingErrorBytes = 64 << 10

// StoredRecordingFile opens a stored recording's file (GET
// /recordings/stored/{name}/file) for streaming: the caller reads and closes body.
// contentType is Asterisk's (e.g. audio/wav). ErrNotFound (an *APIError) when there is
// no such recording. The request is bounded by ctx only, not by the request timeout,
// since a long recording takes a while to stream.
func (c *Client) StoredRecordingFile(ctx context.Context, name string) (body io.ReadCloser, contentType string, err error) {
	if name == "" {
		return nil, "", fmt.Errorf("%w: recording name is empty", ErrInvalidArgument)
	}
	r := c.rest
	path := "/recordings/stored/" + pathEsc(name) + "/file"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return nil, "", fmt.Errorf("ari GET %s: %w", path, err)
	}
	req.SetBasicAuth(r.user, r.password)
	resp, err := r.http.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("ari GET %s%s: %w: %w", r.base, path, ErrUnavailable, stripURL(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxRecordingErrorBytes))
		cerr := resp.Body.Close()
		apiErr := &APIError{Method: http.MethodGet, URL: r.base + path, Status: resp.StatusCode, Message: errorMessage(data)}
		if rerr != nil || cerr != nil {
			return nil, "", fmt.Errorf("%w (reading the error answer: %v %v)", apiErr, rerr, cerr)
		}
		return nil, "", apiErr
	}
	return resp.Body, resp.Header.Get("Content-Type"), nil
}
