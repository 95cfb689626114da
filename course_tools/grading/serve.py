"""``python -I -m course_tools.grading.serve``: one judge server (see ``judge.serve``)."""

from course_tools.grading.judge import serve

if __name__ == "__main__":
    serve()
