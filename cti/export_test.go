package cti

// AnnouncementMedia exposes the prompt list to the external tests.
var AnnouncementMedia = announcementMedia
