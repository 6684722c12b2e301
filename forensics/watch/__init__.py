"""``forensics watch``: follow log files and folders, raise alerts as lines arrive.

The follower (:mod:`forensics.watch.follow`) hands over appended lines; the
engine (:mod:`forensics.watch.engine`) parses them and raises alerts.  This
package imports nothing on import: import the module you need.
"""
