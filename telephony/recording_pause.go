package telephony

import "context"

// PauseRecording pauses (pause true: POST /recordings/live/{name}/pause) or resumes
// (DELETE) a live recording: what is said meanwhile is not recorded. ARI answers
// 404 (ErrNotFound) for an unknown recording and 409 (ErrConflict) when it is not in
// session.
func (c *Client) PauseRecording(ctx context.Context, name string, pause bool) error {
	method := "DELETE"
	if pause {
		method = "POST"
	}
	return c.rest.do(ctx, method, "/recordings/live/"+pathEsc(name)+"/pause", nil, nil, nil)
}
