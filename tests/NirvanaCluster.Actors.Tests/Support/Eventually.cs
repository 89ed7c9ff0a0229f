namespace NirvanaCluster.Actors.Tests.Support;

/// <summary>Awaits a condition with a timeout by polling it: waiting on a condition, not sleeping a fixed time.</summary>
public static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new Xunit.Sdk.XunitException($"timed out waiting for {what}");
            await Task.Delay(5);
        }
    }
}
