using System.Diagnostics;
using NirvanaCluster.Engine.Checkpoints;
using NirvanaCluster.Engine.Model;
using NirvanaCluster.Engine.Tests.Checkpoints;

namespace NirvanaCluster.Engine.Tests.BadInput;

/// <summary>
/// Class 7 (leftovers): a writer killed with SIGKILL leaves its staging folder; the next write of the same target
/// removes it, but never the staging of a writer that is still running.
/// </summary>
public class StagingAreaTests
{
    private static NamedTensor[] Tensors(LlamaConfig config) =>
        RandomWeights.Create(config, seed: 1, std: 0.1f).Tensors().Select(t => new NamedTensor(t.Name, t.Shape, t.Data)).ToArray();

    /// <summary>A process that has exited, with the start time it had: exactly what a SIGKILLed writer leaves.</summary>
    private static (int Pid, long Ticks) DeadProcess()
    {
        using var p = Process.Start(new ProcessStartInfo("sleep", "30"))!;
        var ticks = p.StartTime.ToUniversalTime().Ticks;
        p.Kill(); // SIGKILL
        p.WaitForExit();
        return (p.Id, ticks);
    }

    [Fact]
    public void Stale_staging_of_a_killed_writer_is_removed_on_the_next_run_and_a_live_writers_is_kept()
    {
        using var temp = new TempDirectory();
        var (dead, deadTicks) = DeadProcess();
        using var live = Process.Start(new ProcessStartInfo("sleep", "60"))!;
        try
        {
            var liveTicks = live.StartTime.ToUniversalTime().Ticks;
            string Leftover(string name)
            {
                var path = temp.File(name);
                Directory.CreateDirectory(path);
                File.WriteAllText(Path.Combine(path, "model.safetensors"), "half a model");
                return path;
            }
            var killed = Leftover($".model.partial-{dead}-{deadTicks}-0123456789abcdef0123456789abcdef");
            var killedSwap = Leftover($".model.old-{dead}-{deadTicks}-0123456789abcdef0123456789abcdef");
            var reused = Leftover($".model.partial-{live.Id}-{liveTicks - TimeSpan.TicksPerMinute}-0123456789abcdef0123456789abcdef"); // pid reused by a newer process
            // Another process's reading of the live writer's start time, a few milliseconds off (measured across processes).
            var runningSeenElsewhere = Leftover($".model.partial-{live.Id}-{liveTicks + 30 * TimeSpan.TicksPerMillisecond}-0123456789abcdef0123456789abcdef");
            var running = Leftover($".model.partial-{live.Id}-{liveTicks}-0123456789abcdef0123456789abcdef");
            var oldUnowned = Leftover(".model.partial-0123456789abcdef0123456789abcdef"); // an older version's name
            Directory.SetLastWriteTimeUtc(oldUnowned, DateTime.UtcNow - TimeSpan.FromDays(2));
            var freshUnowned = Leftover(".model.partial-fedcba9876543210fedcba9876543210");
            var otherTarget = Leftover($".other.partial-{dead}-{deadTicks}-0123456789abcdef0123456789abcdef");

            CheckpointWriter.Write(temp.File("model"), TestConfigs.Tiny(), Tensors(TestConfigs.Tiny()));

            Assert.False(Directory.Exists(killed));
            Assert.False(Directory.Exists(killedSwap));
            Assert.False(Directory.Exists(reused));
            Assert.False(Directory.Exists(oldUnowned));
            Assert.True(Directory.Exists(running), "a live writer's staging folder was removed");
            Assert.True(Directory.Exists(runningSeenElsewhere), "a live writer's staging folder, named from another process's reading of its start, was removed");
            Assert.True(Directory.Exists(freshUnowned), "a recent folder without an owner was removed");
            Assert.True(Directory.Exists(otherTarget), "only the target's own leftovers are cleaned");
            Assert.True(File.Exists(temp.File("model/config.json")));
        }
        finally
        {
            live.Kill();
            live.WaitForExit();
        }
    }

    [Fact]
    public void A_writer_names_its_staging_with_its_pid_and_start_so_others_can_tell_it_is_alive()
    {
        using var temp = new TempDirectory();
        var seen = new List<string>();
        var options = new CheckpointWriteOptions();
        var tensors = Tensors(TestConfigs.Tiny()).Select((t, i) => i == 0
            ? t.ProduceWeight is { } weight
                ? NamedTensor.FromWeight(t.Name, t.Shape, () => { seen.AddRange(temp.Entries()); return weight(); })
                : new NamedTensor(t.Name, t.Shape, () => { seen.AddRange(temp.Entries()); return t.Produce!(); })
            : t).ToArray();
        CheckpointWriter.Write(temp.File("m"), TestConfigs.Tiny(), tensors, options);
        var staging = Assert.Single(seen);
        Assert.Matches($@"^\.m\.partial-{Environment.ProcessId}-\d+-[0-9a-f]{{32}}$", staging);
        Assert.False(StagingArea.IsStale(temp.File(staging), staging[".m.partial-".Length..])); // ours, alive
        Assert.Equal(["m"], temp.Entries());
    }

    [Fact]
    public void Single_file_writers_clean_their_killed_temporaries_too()
    {
        using var temp = new TempDirectory();
        var (dead, ticks) = DeadProcess();
        var leftover = temp.File($".held-out.json.partial-{dead}-{ticks}-0123456789abcdef0123456789abcdef");
        File.WriteAllText(leftover, "[[1, 2");
        AtomicFile.Write(temp.File("held-out.json"), false, [], _ => true, "a token file", t => File.WriteAllText(t, "[[1, 2]]"));
        Assert.Equal(["held-out.json"], temp.Entries());
    }
}
