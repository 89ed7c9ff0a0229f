using System.Runtime.InteropServices;
using FsCheck;
using FsCheck.Fluent;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Tests.Checkpoints;

namespace NirvanaCluster.Engine.Tests.BadInput;

/// <summary>
/// The output rule (no output equals, contains or lies inside an input), with the kernel as the oracle: libc's
/// realpath(3) resolves every path the property generates, through absolute, relative and chained links and `..`.
/// </summary>
public class OutputGuardTests
{
    [DllImport("libc", SetLastError = true)]
    private static extern IntPtr realpath(string path, IntPtr resolved);

    [DllImport("libc")]
    private static extern void free(IntPtr pointer);

    /// <summary>The kernel's answer for the longest existing prefix, with the rest appended (as the guard defines it).</summary>
    private static string KernelRealPath(string path)
    {
        var full = Path.GetFullPath(path);
        var parts = full.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var n = parts.Length; n >= 0; n--)
        {
            var prefix = "/" + string.Join('/', parts[..n]);
            var p = realpath(prefix, IntPtr.Zero);
            if (p == IntPtr.Zero) continue;
            var resolved = Marshal.PtrToStringUTF8(p)!;
            free(p);
            return n == parts.Length ? resolved : Path.Combine([resolved, .. parts[n..]]);
        }
        throw new InvalidOperationException($"realpath failed even for / on {path}");
    }

    /// <summary>root/{a/{c/{lroot -> ../..}, file.txt, up -> ..}, b, model/config.json, la -> root/a, lb -> b, la2 -> la, lfile -> a/file.txt, lmodel -> model}</summary>
    private static TempDirectory Tree()
    {
        var temp = new TempDirectory();
        Directory.CreateDirectory(temp.File("a/c"));
        Directory.CreateDirectory(temp.File("b"));
        Directory.CreateDirectory(temp.File("model"));
        File.WriteAllText(temp.File("a/file.txt"), "x");
        File.WriteAllText(temp.File("model/config.json"), "{}");
        Directory.CreateSymbolicLink(temp.File("la"), temp.File("a"));
        Directory.CreateSymbolicLink(temp.File("lb"), "b");
        Directory.CreateSymbolicLink(temp.File("la2"), "la");
        Directory.CreateSymbolicLink(temp.File("a/up"), "..");
        Directory.CreateSymbolicLink(temp.File("a/c/lroot"), "../..");
        File.CreateSymbolicLink(temp.File("lfile"), "a/file.txt");
        Directory.CreateSymbolicLink(temp.File("lmodel"), "model");
        return temp;
    }

    private static readonly string[] Segments = ["a", "b", "c", "model", "config.json", "la", "lb", "la2", "up", "lroot", "lfile", "lmodel", "..", ".", "new"];

    [Fact]
    public void Real_paths_agree_with_the_kernel_and_the_guard_refuses_exactly_what_touches_the_model()
    {
        using var tree = Tree();
        var model = KernelRealPath(tree.File("model"));
        var gen = Gen.Elements(Segments).ArrayOf().Select(s => s.Take(7).ToArray()).Where(s => s.Length > 0);
        Prop.ForAll(gen.ToArbitrary(), segments =>
        {
            var path = Path.Combine([tree.Path, .. segments]);
            var kernel = KernelRealPath(path);
            var ours = OutputGuard.RealPath(path);
            if (ours != kernel) return false.Label($"{path}: guard {ours}, kernel {kernel}");
            var touches = OutputGuard.IsSameOrInside(kernel, model) || OutputGuard.IsSameOrInside(model, kernel);
            bool refused;
            try
            {
                OutputGuard.CheckApartFromInputs(path, [tree.File("model")]);
                refused = false;
            }
            catch (ArgumentException)
            {
                refused = true;
            }
            return (refused == touches).Label($"{path} -> {kernel}: refused {refused}, touches the model {touches}");
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(400));
    }

    [Theory]
    [InlineData("model", "is the input")]
    [InlineData("lmodel", "is the input")]
    [InlineData(".", "contains the input")]
    [InlineData("a/up", "contains the input")]
    [InlineData("a/c/lroot", "contains the input")]
    [InlineData("model/config.json", "lies inside the input")]
    [InlineData("lmodel/new/deeper", "lies inside the input")]
    [InlineData("model/../model", "is the input")]
    public void Each_way_of_reaching_the_model_is_named(string output, string expected)
    {
        using var tree = Tree();
        var e = Assert.Throws<ArgumentException>(() => OutputGuard.CheckApartFromInputs(tree.File(output), [tree.File("model")]));
        Assert.Contains("--output", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Dangling_and_looping_links()
    {
        using var tree = new TempDirectory();
        File.CreateSymbolicLink(tree.File("dangling"), "nowhere/deep");
        Assert.Equal(Path.Combine(KernelRealPath(tree.Path), "nowhere/deep/x"), OutputGuard.RealPath(tree.File("dangling/x")));
        File.CreateSymbolicLink(tree.File("loop1"), "loop2");
        File.CreateSymbolicLink(tree.File("loop2"), "loop1");
        Assert.ThrowsAny<IOException>(() => OutputGuard.RealPath(tree.File("loop1/x")));
    }

    [Fact]
    public void Force_replaces_only_marked_or_empty_folders_and_own_kind_files()
    {
        using var tree = new TempDirectory();
        var user = tree.File("user");
        Directory.CreateDirectory(user);
        File.WriteAllText(Path.Combine(user, "notes.txt"), "mine");
        Assert.Contains("already exists", Assert.Throws<ArgumentException>(() => OutputGuard.CheckFolder(user, false, [])).Message);
        Assert.Contains("not written by nirvana", Assert.Throws<ArgumentException>(() => OutputGuard.CheckFolder(user, true, [])).Message);
        OutputGuard.WriteMarker(user, "test");
        Assert.Equal(KernelRealPath(user), OutputGuard.CheckFolder(user, true, []));
        var empty = tree.File("empty");
        Directory.CreateDirectory(empty);
        Assert.Equal(KernelRealPath(empty), OutputGuard.CheckFolder(empty, true, []));
        Assert.Contains("is an existing file", Assert.Throws<ArgumentException>(() => OutputGuard.CheckFolder(Path.Combine(user, "notes.txt"), true, [])).Message);

        var file = tree.File("out.bin");
        File.WriteAllText(file, "not ours");
        Assert.Contains("is not a GGUF file", Assert.Throws<ArgumentException>(() =>
            AtomicFile.Write(file, true, [], f => File.ReadAllText(f).StartsWith("GGUF"), "a GGUF file", t => File.WriteAllText(t, "GGUF new"))).Message);
        Assert.Equal("not ours", File.ReadAllText(file));
        File.WriteAllText(file, "GGUF old");
        AtomicFile.Write(file, true, [], f => File.ReadAllText(f).StartsWith("GGUF"), "a GGUF file", t => File.WriteAllText(t, "GGUF new"));
        Assert.Equal("GGUF new", File.ReadAllText(file));
        Assert.Contains("is an existing folder", Assert.Throws<ArgumentException>(() =>
            AtomicFile.Write(empty, true, [], _ => true, "anything", _ => { })).Message);
        Assert.Equal(["empty", "out.bin", "user"], tree.Entries());
    }

    [Fact]
    public void An_unwritable_place_is_reported_by_the_flag_before_any_work()
    {
        // /proc takes no new files, even from root (the suite runs as root, so permission bits would not do).
        var e = Assert.Throws<ArgumentException>(() => OutputGuard.CheckFolder("/proc/nirvana-test-output/model", false, []));
        Assert.Contains("--output", e.Message);
        Assert.Contains("cannot write into '/proc'", e.Message);
    }

    [Fact]
    public void A_file_in_the_way_of_the_parent_is_named()
    {
        using var tree = new TempDirectory();
        File.WriteAllText(tree.File("plain"), "x");
        var e = Assert.Throws<ArgumentException>(() => OutputGuard.CheckFolder(tree.File("plain/sub/out"), false, []));
        Assert.Contains("is a file, not a folder", e.Message);
    }
}
