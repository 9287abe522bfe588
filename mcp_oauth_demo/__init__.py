"""Tools for people: the walkthrough, the doctor, and the launcher that starts both servers."""
