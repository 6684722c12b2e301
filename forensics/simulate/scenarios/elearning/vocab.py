"""Fixed vocabulary of the simulated e-learning platform: actions, their
routes, messages and SQL, and the hand-set transition weights of the
behaviour model.  Data only; no randomness here.
"""

from __future__ import annotations

import numpy as np

from ...engine.chain import start_vector as action_weights
from ...engine.chain import transition_matrices as stack_matrices

#: Action vocabulary (the app log's ``event`` field).  Index = action code.
ACTIONS: tuple[str, ...] = (
    "login", "browse_courses", "open_course", "open_lecture", "play_video",
    "download_material", "open_assignment", "submit_assignment", "start_quiz",
    "submit_quiz", "join_live_lecture", "post_forum", "switch_language",
    "update_preferences", "logout", "edit_course", "upload_material",
    "preview_course", "publish_course", "grade_submission",
)
A = len(ACTIONS)
#: Pseudo-action "session ends" (never written).
END = A
CODE = {name: i for i, name in enumerate(ACTIONS)}

#: The rare four-step sequence that poisons the content cache.
TRIGGER = ("start_quiz", "switch_language", "download_material", "submit_quiz")
#: A rare sequence that does no harm (a few times a day, far from onsets).
RARE_HARMLESS = ("join_live_lecture", "switch_language", "post_forum", "update_preferences")
#: A rare harmless sequence that happens once, by chance, minutes before an onset.
COINCIDENCE = ("open_assignment", "update_preferences", "play_video", "post_forum")
#: The path nearly everyone takes, failing users included.
COMMON_PATH = ("open_course", "open_lecture", "play_video")

#: HTTP method and route template per action ({c} course, {x} another id).
ROUTES: dict[str, tuple[str, str]] = {
    "login": ("POST", "/api/login"),
    "browse_courses": ("GET", "/courses"),
    "open_course": ("GET", "/courses/{c}"),
    "open_lecture": ("GET", "/courses/{c}/lectures/{x}"),
    "play_video": ("GET", "/courses/{c}/lectures/{x}/video"),
    "download_material": ("GET", "/courses/{c}/materials/{x}/download"),
    "open_assignment": ("GET", "/courses/{c}/assignments/{x}"),
    "submit_assignment": ("POST", "/courses/{c}/assignments/{x}/submissions"),
    "start_quiz": ("POST", "/courses/{c}/quizzes/{x}/attempts"),
    "submit_quiz": ("POST", "/courses/{c}/quizzes/{x}/submit"),
    "join_live_lecture": ("GET", "/live/{x}/join"),
    "post_forum": ("POST", "/courses/{c}/forum/posts"),
    "switch_language": ("POST", "/api/preferences/language"),
    "update_preferences": ("PUT", "/api/preferences"),
    "logout": ("POST", "/api/logout"),
    "edit_course": ("PUT", "/courses/{c}"),
    "upload_material": ("POST", "/courses/{c}/materials"),
    "preview_course": ("GET", "/courses/{c}/preview"),
    "publish_course": ("POST", "/courses/{c}/publish"),
    "grade_submission": ("POST", "/courses/{c}/assignments/{x}/grades"),
}

MESSAGES: dict[str, str] = {
    "login": "user logged in",
    "browse_courses": "course catalog listed",
    "open_course": "course page rendered",
    "open_lecture": "lecture opened",
    "play_video": "video stream started",
    "download_material": "material download served",
    "open_assignment": "assignment opened",
    "submit_assignment": "assignment submitted",
    "start_quiz": "quiz attempt started",
    "submit_quiz": "quiz attempt submitted",
    "join_live_lecture": "joined live lecture",
    "post_forum": "forum post created",
    "switch_language": "interface language changed",
    "update_preferences": "preferences updated",
    "logout": "user logged out",
    "edit_course": "course updated",
    "upload_material": "material uploaded",
    "preview_course": "course preview rendered",
    "publish_course": "course published",
    "grade_submission": "submission graded",
}

#: Actions that read the course content blob through the content cache.
CONTENT_READERS = (
    "open_course", "open_lecture", "play_video", "download_material", "open_assignment",
    "start_quiz", "submit_quiz", "submit_assignment", "post_forum", "preview_course",
)
#: Instructor actions that invalidate a course's content entry.
INVALIDATORS = ("edit_course", "upload_material", "publish_course")
#: Actions with a course context.
COURSE_ACTIONS = CONTENT_READERS + INVALIDATORS + ("grade_submission",)
#: Actions that write through to the database (can hit write conflicts).
DB_WRITERS = ("submit_assignment", "submit_quiz", "post_forum", "grade_submission", "upload_material")

#: Median think time after an action (seconds); log-normal spread.
DWELL_S: dict[str, float] = {
    "login": 8, "browse_courses": 15, "open_course": 20, "open_lecture": 80, "play_video": 240,
    "download_material": 25, "open_assignment": 110, "submit_assignment": 25, "start_quiz": 200,
    "submit_quiz": 20, "join_live_lecture": 700, "post_forum": 55, "switch_language": 8,
    "update_preferences": 20, "logout": 1, "edit_course": 150, "upload_material": 50,
    "preview_course": 50, "publish_course": 20, "grade_submission": 80,
}

SQL: dict[str, str] = {
    "content": "SELECT c.id, c.title, c.syllabus, m.position, m.payload FROM courses c JOIN course_modules m ON m.course_id = c.id WHERE c.id = {c} ORDER BY m.position",
    "submit_assignment": "INSERT INTO submissions (assignment_id, user_id, submitted_at) VALUES ({x}, '{u}', now())",
    "submit_quiz": "UPDATE quiz_attempts SET submitted_at = now(), score = $1 WHERE quiz_id = {x} AND user_id = '{u}'",
    "post_forum": "INSERT INTO forum_posts (course_id, author_id, body) VALUES ({c}, '{u}', $1)",
    "grade_submission": "UPDATE submissions SET grade = $1, graded_by = '{u}' WHERE assignment_id = {x}",
    "upload_material": "INSERT INTO materials (course_id, uploaded_by, blob_key) VALUES ({c}, '{u}', $1)",
}

# --------------------------------------------------------------- transitions

_STUDENT: dict[str, dict[str, float]] = {
    "login": {"browse_courses": 45, "open_course": 35, "open_lecture": 5, "join_live_lecture": 5, "open_assignment": 5,
              "post_forum": 2, "switch_language": 1.5, "update_preferences": 1.5},
    "browse_courses": {"open_course": 75, "browse_courses": 8, "switch_language": 2, "update_preferences": 2, "END": 8, "logout": 5},
    "open_course": {"open_lecture": 38, "download_material": 12, "open_assignment": 14, "start_quiz": 10, "post_forum": 6,
                    "join_live_lecture": 4, "browse_courses": 6, "open_course": 3, "switch_language": 2, "END": 3, "logout": 2},
    "open_lecture": {"play_video": 50, "download_material": 15, "open_lecture": 10, "open_course": 10, "start_quiz": 4,
                     "post_forum": 3, "submit_quiz": 1, "END": 5, "logout": 2, "switch_language": 1},
    "play_video": {"open_lecture": 35, "play_video": 15, "download_material": 10, "open_course": 10, "start_quiz": 5,
                   "post_forum": 4, "END": 15, "logout": 4, "switch_language": 2},
    "download_material": {"open_lecture": 25, "download_material": 15, "open_course": 20, "play_video": 10,
                          "open_assignment": 5, "start_quiz": 5, "submit_quiz": 2, "END": 12, "logout": 3},
    "open_assignment": {"submit_assignment": 45, "download_material": 15, "open_lecture": 10, "open_course": 10,
                        "post_forum": 5, "update_preferences": 1, "END": 10, "logout": 4},
    "submit_assignment": {"open_course": 30, "browse_courses": 15, "post_forum": 10, "END": 30, "logout": 15},
    "start_quiz": {"submit_quiz": 70, "open_lecture": 8, "download_material": 6, "END": 8, "switch_language": 2, "start_quiz": 2,
                   "play_video": 4},
    "submit_quiz": {"open_course": 30, "start_quiz": 10, "open_lecture": 15, "browse_courses": 10, "END": 20, "logout": 10,
                    "post_forum": 5},
    "join_live_lecture": {"post_forum": 20, "open_course": 20, "download_material": 15, "switch_language": 2, "END": 33,
                          "logout": 10},
    "post_forum": {"post_forum": 15, "open_course": 30, "open_lecture": 15, "browse_courses": 5, "update_preferences": 1,
                   "play_video": 3, "END": 24, "logout": 10},
    "switch_language": {"browse_courses": 30, "open_course": 30, "open_lecture": 10, "update_preferences": 10,
                        "download_material": 5, "submit_quiz": 2, "post_forum": 3, "END": 7, "logout": 3},
    "update_preferences": {"browse_courses": 35, "open_course": 30, "switch_language": 10, "play_video": 3, "END": 15,
                           "logout": 10},
    "logout": {"END": 1},
}

_INSTRUCTOR: dict[str, dict[str, float]] = {
    "login": {"open_course": 50, "browse_courses": 20, "grade_submission": 10, "edit_course": 10, "post_forum": 5,
              "join_live_lecture": 5},
    "browse_courses": {"open_course": 80, "END": 10, "logout": 10},
    "open_course": {"edit_course": 20, "preview_course": 10, "upload_material": 12, "grade_submission": 12,
                    "open_lecture": 10, "post_forum": 8, "publish_course": 3, "open_course": 5, "join_live_lecture": 5,
                    "END": 10, "logout": 5},
    "open_lecture": {"edit_course": 30, "open_course": 30, "open_lecture": 15, "END": 15, "logout": 10},
    "edit_course": {"preview_course": 35, "edit_course": 20, "upload_material": 15, "publish_course": 10,
                    "open_course": 10, "END": 10},
    "upload_material": {"edit_course": 20, "preview_course": 25, "upload_material": 20, "publish_course": 10,
                        "open_course": 10, "END": 15},
    "preview_course": {"publish_course": 25, "edit_course": 25, "open_course": 15, "upload_material": 10, "END": 15,
                       "logout": 10},
    "publish_course": {"open_course": 30, "browse_courses": 10, "post_forum": 10, "END": 35, "logout": 15},
    "grade_submission": {"grade_submission": 55, "open_course": 15, "post_forum": 10, "END": 15, "logout": 5},
    "post_forum": {"post_forum": 20, "open_course": 35, "END": 30, "logout": 15},
    "join_live_lecture": {"post_forum": 30, "open_course": 20, "END": 40, "logout": 10},
    "logout": {"END": 1},
}

#: Student habit profiles: column multipliers on the base matrix.
PROFILES: dict[str, dict[str, float]] = {
    "watcher": {"play_video": 2.0, "open_lecture": 1.5},
    "quizzer": {"start_quiz": 2.0, "open_assignment": 1.5, "submit_quiz": 1.2},
    "social": {"post_forum": 2.5, "join_live_lecture": 2.0},
    "reader": {"download_material": 2.0, "open_lecture": 1.3},
    "polyglot": {"switch_language": 3.0, "update_preferences": 2.0},
    "skimmer": {"END": 1.8, "browse_courses": 1.5},
}
PROFILE_WEIGHTS = (0.24, 0.2, 0.14, 0.2, 0.06, 0.16)
#: Index of the instructor "profile" in the stacked matrices.
INSTRUCTOR = len(PROFILES)

START_STUDENT = {"login": 55, "browse_courses": 15, "open_course": 18, "open_lecture": 6, "join_live_lecture": 3,
                 "open_assignment": 3}
START_INSTRUCTOR = {"login": 60, "open_course": 30, "grade_submission": 10}


def transition_matrices() -> np.ndarray:
    """Stacked row-normalized matrices: one per student profile, then the
    instructors' (their own rows, the students' where they have none)."""
    instructor = {name: _INSTRUCTOR.get(name) or _STUDENT.get(name) for name in ACTIONS}
    return stack_matrices(ACTIONS, [_STUDENT] * len(PROFILES) + [instructor], [*PROFILES.values(), None])


def start_vector(table: dict[str, float]) -> np.ndarray:
    return action_weights(ACTIONS, table)
