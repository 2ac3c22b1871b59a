package catalogsync

// ScaleFactor exposes scaleFactor to the tests.
var ScaleFactor = scaleFactor
