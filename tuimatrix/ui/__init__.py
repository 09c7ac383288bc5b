"""What the Textual app needs beside its screens and widgets: the app as a command context,
key bindings, the palette's room entries, and the small UI state files kept between runs."""
