package desktop

// Sessions is the number of open desktop WebSockets (the ctid_websocket_sessions gauge).
func (h *Hub) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, st := range h.streams {
		if st.cur != nil {
			n++
		}
	}
	return n
}
