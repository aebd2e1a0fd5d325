from starjax.data.languages import language_of, task_suffix


def test_extensions_map_to_the_stack_language_names():
  assert language_of("pkg/mod.py") == "python"
  assert language_of("include/x.h") == "c"  # The Stack puts .h in C
  assert language_of("src/x.HPP") == "cpp"
  assert language_of("a/b.tsx") == "typescript"
  assert language_of("Program.cs") == "c-sharp"
  assert language_of("CMakeLists.txt") == "cmake"


def test_unknown_files_have_no_language():
  assert language_of("README") is None
  assert language_of("image.png") is None
  assert language_of("notes.txt") is None


def test_task_suffix_is_a_valid_seqio_name():
  assert task_suffix("c-sharp") == "c_sharp"
  assert task_suffix("C++") == "cpp"
  assert task_suffix("protocol-buffer") == "protocol_buffer"
  assert task_suffix("Python") == "python"
